import { endpoint, reply, route, SagaflowError } from "sagaflow";
import { customer, customerOrAdmin } from "./customer.ts";
import { wallet } from "./wallet.ts";

/**
 * `GET /customers/{id}/overview`: the customer's profile and the balance of each of its wallets,
 * gathered in process through the client. Same access rule as the customer's own routes.
 */
export const customerOverview = endpoint("customer-overview", [
  route.get("/customers/:id/overview", { access: customerOrAdmin }, async ({ params }, { client }) => {
    let profile;
    try {
      profile = await client.call(customer, params.id).get();
    } catch (error) {
      if (error instanceof SagaflowError && error.code === "not_found") {
        throw new SagaflowError("not_found", `no customer "${params.id}"`, { status: 404 });
      }
      throw error;
    }
    if (!profile) throw new SagaflowError("not_found", `no customer "${params.id}"`, { status: 404 });
    // A wallet added to the profile but never created holds nothing yet.
    const balanceOf = async (id: string) => {
      try {
        return (await client.call(wallet, id).balance()).balance;
      } catch (error) {
        if (error instanceof SagaflowError && error.code === "not_found") return 0;
        throw error;
      }
    };
    const wallets = await Promise.all(profile.wallets.map(async (id) => ({ id, balance: await balanceOf(id) })));
    const total = wallets.reduce((sum, w) => sum + w.balance, 0);
    return reply.json({ name: profile.name, email: profile.email, wallets, total });
  }),
]);
