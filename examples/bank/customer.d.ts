export interface Customer {
    name: string;
    email: string;
    wallets: string[];
}
/** A key-value entity: the customer's profile is one value, replaced as a whole. Input is checked with zod. */
export declare const customer: import("sagaflow").KeyValueDefinition<Customer | null, {
    register: (s: Customer | null, c: {
        name: string;
        email: string;
    }, fx: import("sagaflow").KeyValueEffects<Customer | null>) => import("sagaflow").Effect<Customer | null>;
    addWallet: (s: Customer | null, c: {
        walletId: string;
    }, fx: import("sagaflow").KeyValueEffects<Customer | null>) => import("sagaflow").Effect<Customer | null>;
    close: (s: Customer | null, _: {}, fx: import("sagaflow").KeyValueEffects<Customer | null>) => import("sagaflow").Effect<{
        closed: boolean;
    }>;
}, {
    get: (s: Customer | null, _: {}, fx: import("sagaflow").ReplyEffects) => import("sagaflow").Effect<Customer>;
}>;
