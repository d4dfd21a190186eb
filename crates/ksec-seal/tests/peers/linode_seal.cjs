// The other side of ksec's interop tests: npm @linode/kubeseal-encrypt (JavaScript,
// WebCrypto), which seals namespace-wide values.
//   node linode_seal.cjs PUBLIC_KEY_PEM NAMESPACE  < value  -> base64 sealed value
const fs = require("fs");
const path = require("path");
const mod = require(path.join(process.env.KSEC_NODE_MODULES, "@linode/kubeseal-encrypt"));
const [pemPath, namespace] = process.argv.slice(2);
const value = fs.readFileSync(0, "utf8");
mod
  .encryptSecretItem(fs.readFileSync(pemPath, "utf8"), namespace, value)
  .then((out) => process.stdout.write(out))
  .catch((e) => {
    console.error(e);
    process.exit(1);
  });
