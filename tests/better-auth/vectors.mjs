// Produces vectors.json: values made by Better Auth 1.7.25's own code, for tests that run
// without Node (tests/it/interop.rs). Rerun with:
//
//   npm ci --prefix tests/better-auth && node tests/better-auth/vectors.mjs > tests/better-auth/vectors.json
//
// - scrypt: `hashPassword` from better-auth/crypto (scrypt N=16384 r=16 p=1, 64-byte key,
//   NFKC password, the salt's hex text as the salt), with the passwords hashed.
// - cookies: the signed session cookie value, `encodeURIComponent(token + "." + sig)`, where
//   sig is `makeSignature(token, secret)` from better-auth/crypto (base64 HMAC-SHA256) -
//   what better-call's signCookieValue puts in `better-auth.session_token`.
// - jwt: keys and tokens as the JWT plugin makes them with jose (its own dependency):
//   a key pair from `generateKeyPair(alg)`, the public JWK stored as `jwks.publicKey`
//   (JSON), `jwks.id` as the `kid`; the token's header `{alg, kid}`, its payload the
//   session's user plus `sub`, `iat`, `exp`, `iss` and `aud` (= baseURL). The plugin's
//   default lifetime is 15 minutes; these were issued in 2025 and expire in 2100 so the tests can use them, and
//   one more is already expired.
import { hashPassword, makeSignature } from "better-auth/crypto";
import { SignJWT, exportJWK, generateKeyPair } from "jose";

const secret = "vectors-secret-0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const baseURL = "http://localhost:3000";

const passwords = ["correct horse battery staple", "pässwörd-ÄÖÜ-ß", "ｆｕｌｌｗｉｄｔｈ-pw", "🔑emoji-key🔑"];
const scrypt = [];
for (const password of passwords) {
  scrypt.push({ password, hash: await hashPassword(password) });
}

const tokens = ["aP8dZCLrnzonw3e5ju5rlRhq14rJXmVA", "HESRevtrmJ1yqXAhZCUt5JXGRXteni0o"];
const cookies = [];
for (const token of tokens) {
  const signature = await makeSignature(token, secret);
  cookies.push({ token, signed: `${token}.${signature}`, cookie: encodeURIComponent(`${token}.${signature}`) });
}

const user = {
  id: "Vq7Gd0Xk2mLs9PzR4tYw8NbC1hJe5UaF",
  name: "Web User",
  email: "web-user@example.com",
  emailVerified: false,
  image: null,
  createdAt: "2026-11-20T10:00:00.000Z",
  updatedAt: "2026-11-20T10:00:00.000Z",
};
const jwt = [];
for (const [alg, kid, exp] of [
  ["EdDSA", "kid-eddsa-1", 4102444800],
  ["ES256", "kid-es256-1", 4102444800],
  ["RS256", "kid-rs256-1", 4102444800],
  ["EdDSA", "kid-eddsa-1", 1700000000],
]) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { crv: alg === "EdDSA" ? "Ed25519" : undefined, extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const token = await new SignJWT({ ...user })
    .setProtectedHeader({ alg, kid })
    .setSubject(user.id)
    .setIssuedAt(1764000000)
    .setExpirationTime(exp)
    .setIssuer(baseURL)
    .setAudience(baseURL)
    .sign(privateKey);
  jwt.push({
    alg,
    expired: exp < Date.now() / 1000,
    jwks: { id: kid, publicKey: JSON.stringify(publicJwk), alg, crv: publicJwk.crv ?? null },
    token,
  });
}
// The expired token must be signed by the first key to be a pure expiry case: re-sign it.
{
  const { publicKey, privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
  const publicJwk = await exportJWK(publicKey);
  jwt[0].jwks.publicKey = JSON.stringify(publicJwk);
  jwt[0].jwks.crv = publicJwk.crv;
  for (const i of [0, 3]) {
    const exp = i === 0 ? 4102444800 : 1700000000;
    jwt[i].jwks = jwt[0].jwks;
    jwt[i].token = await new SignJWT({ ...user })
      .setProtectedHeader({ alg: "EdDSA", kid: "kid-eddsa-1" })
      .setSubject(user.id)
      .setIssuedAt(1764000000)
      .setExpirationTime(exp)
      .setIssuer(baseURL)
      .setAudience(baseURL)
      .sign(privateKey);
  }
}

process.stdout.write(JSON.stringify({ betterAuth: "1.7.25", secret, baseURL, user, scrypt, cookies, jwt }, null, 2) + "\n");
