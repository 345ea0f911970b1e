import { benchOcsp } from "./ocsp.js";
const r = await benchOcsp({ certificates: 1000, seconds: 10, connections: 32, rounds: 20 });
console.log(JSON.stringify(r));
