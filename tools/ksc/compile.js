// Runs the official Kaitai Struct compiler (npm package, pinned in package-lock.json).
// Input (stdin): JSON {"target": "python"|"construct", "specs": {"<id>": <parsed ksy>}}
// Output (stdout): JSON {"version": "...", "files": {"<spec id>": {"<file name>": "<source>"}}}
"use strict";
const compiler = require("kaitai-struct-compiler");
let input = "";
process.stdin.on("data", (d) => { input += d; });
process.stdin.on("end", async () => {
  const req = JSON.parse(input);
  const specs = req.specs;
  const importer = {
    importYaml(name) {
      const key = name.replace(/\.ksy$/, "").split("/").pop();
      if (!(key in specs)) return Promise.reject(new Error("unknown import " + name));
      return Promise.resolve(specs[key]);
    },
  };
  const out = { version: compiler.version, files: {} };
  try {
    for (const id of Object.keys(specs)) {
      out.files[id] = await compiler.compile(req.target, specs[id], importer, false);
    }
  } catch (e) {
    process.stderr.write(String(e && (e.stack || e)) + "\n");
    if (e && e.toString) process.stderr.write(JSON.stringify(e, Object.getOwnPropertyNames(e)) + "\n");
    process.exit(1);
  }
  process.stdout.write(JSON.stringify(out));
});
