// Produces two-factor-vectors.json: values made by Better Auth 1.7.25's own code for its
// two-factor plugin, for tests that run without Node (tests/it/interop.rs). Rerun with:
//
//   npm ci --prefix tests/better-auth && node tests/better-auth/two-factor-vectors.mjs > tests/better-auth/two-factor-vectors.json
//
// - encrypted: `symmetricEncrypt({key: secret, data})` from better-auth/crypto, as the
//   plugin stores `twoFactor.secret` (a `generateRandomString(32)` TOTP secret) and
//   `twoFactor.backupCodes` (a JSON array of codes) with a string secret.
// - totp: `createOTP(totpSecret).hotp(counter)` from @better-auth/utils/otp (what
//   verify-totp compares with, for counter = floor(time / 30)), at a few times.
import { generateRandomString, symmetricEncrypt } from "better-auth/crypto";
import { createOTP } from "@better-auth/utils/otp";

const secret = "vectors-secret-0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const totpSecret = generateRandomString(32);
const backupCodes = Array.from({ length: 10 }, () => generateRandomString(10, "a-z", "0-9", "A-Z")).map(
  (c) => `${c.slice(0, 5)}-${c.slice(5)}`,
);
const otp = createOTP(totpSecret);
const totp = [];
for (const time of [0, 59, 1111111109, 1764000000, 4102444799]) {
  totp.push({ time, code: await otp.hotp(Math.floor(time / 30)) });
}

process.stdout.write(
  JSON.stringify(
    {
      betterAuth: "1.7.25",
      secret,
      totpSecret,
      encryptedTotpSecret: await symmetricEncrypt({ key: secret, data: totpSecret }),
      backupCodes,
      encryptedBackupCodes: await symmetricEncrypt({ key: secret, data: JSON.stringify(backupCodes) }),
      totp,
    },
    null,
    2,
  ) + "\n",
);
