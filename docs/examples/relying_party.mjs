// A relying party's backend verifying Vigil's JWT, in Node.js with jose (npm install jose).
//
// The page (or your app) gets the token from the check's `success` event and posts it to your
// backend; never trust it in the browser. This checks the signature with the algorithm you
// expect, `exp` and `iat`, the claims every Vigil token carries, `aud` and `iss` when you
// configured them, `isOk`, and the `nonce` your backend made for this check (it binds the token
// to the check you started). Use each token once: remember its `jti` until `exp` (docs/decider.md).
//
//   VIGIL_JWT_KEY=... node relying_party.mjs TOKEN --nonce NONCE [--audience AUD] [--issuer ISS]
//
// For RS256/ES256 tokens, verify with the public key instead: `await importSPKI(pem, "ES256")`.

import { timingSafeEqual } from "node:crypto";
import { parseArgs } from "node:util";
import { errors, jwtVerify } from "jose";

/** The token's claims when it proves a passed check for this nonce; else it throws. */
export async function checkToken(token, { key, nonce, audience, issuer, algorithms = ["HS256"] }) {
  const secret = typeof key === "string" ? new TextEncoder().encode(key) : key;
  const required = ["exp", "iat", "jti", "sid", "nonce", ...(audience ? ["aud"] : []), ...(issuer ? ["iss"] : [])];
  // One algorithm list of your own, never the token's header: the algorithm-confusion attack.
  const { payload } = await jwtVerify(token, secret, { algorithms, audience, issuer, requiredClaims: required });
  if (payload.isOk !== true) throw new errors.JWTClaimValidationFailed("the check did not pass", payload, "isOk");
  const [got, want] = [Buffer.from(String(payload.nonce)), Buffer.from(String(nonce))];
  if (got.length !== want.length || !timingSafeEqual(got, want)) {
    throw new errors.JWTClaimValidationFailed("the token is for another check (nonce)", payload, "nonce");
  }
  return payload;
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { nonce: { type: "string" }, audience: { type: "string" }, issuer: { type: "string" } },
  });
  if (positionals.length !== 1 || !values.nonce) {
    console.error("usage: VIGIL_JWT_KEY=... node relying_party.mjs TOKEN --nonce NONCE [--audience AUD] [--issuer ISS]");
    return 2;
  }
  try {
    const claims = await checkToken(positionals[0], {
      key: process.env.VIGIL_JWT_KEY, nonce: values.nonce, audience: values.audience, issuer: values.issuer,
    });
    console.log(JSON.stringify({ sid: claims.sid, jti: claims.jti, exp: claims.exp }));
    return 0;
  } catch (error) {
    if (!(error instanceof errors.JOSEError)) throw error; // a bug, not a refused token
    console.error(`refused: ${error.message}`);
    return 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main();
