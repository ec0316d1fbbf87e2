import { SignJWT } from "jose";
import { createAuthenticator } from "../src/auth/authenticator.ts";
const secret = new TextEncoder().encode("s3cret");
const t = await new SignJWT({ roles: ["admin"] }).setProtectedHeader({ alg: "HS256" }).setIssuer("bank-example").setSubject("alice").setIssuedAt().setExpirationTime("1h").sign(secret);
const a = createAuthenticator({ issuers: [{ issuer: "bank-example", algorithms: ["HS256"], secret: "s3cret" }] });
console.log(await a.authenticate("Bearer " + t));
console.log(await a.authenticate("Bearer " + t + "x"));
console.log(await a.authenticate(undefined));
console.log(await createAuthenticator(undefined).authenticate("Bearer " + t));
