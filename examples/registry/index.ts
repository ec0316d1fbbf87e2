import { service } from "sagaflow";
import { confirmations, reservations } from "./consumers.ts";
import { email } from "./email.ts";
import { user } from "./user.ts";

/** Users with unique e-mail addresses, by choreography: consumers and a timer, no workflow. */
export default service("registry", [user, email, reservations, confirmations]);
