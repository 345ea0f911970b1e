import { benchOcsp } from "./ocsp.js";
const r = await benchOcsp({ certificates: 200, seconds: 8, connections: 32, rounds: 10 });
console.log(JSON.stringify(r, null, 1));
