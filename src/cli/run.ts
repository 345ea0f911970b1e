// Entry point: `signet ...` (bin/signet.js runs the compiled form; tests run this file under tsx).
import { main } from "./main.js";

await main(process.argv);
