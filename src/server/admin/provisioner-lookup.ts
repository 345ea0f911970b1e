// Looking provisioners up for admin routes that act on one type's resources (EAB keys, SCEP
// challenges and requests, join tokens), with the same errors everywhere.
import { SignetError } from "../../../ca/errors.js";
import type { ProvisionerRecord, ProvisionerType } from "../../../ca/ports.js";
import type { Services } from "../../services.js";

/** The named provisioner, which must be of `type`; `what` says what belongs to that type. */
export async function provisionerOfType(s: Services, name: string, type: ProvisionerType, what: string): Promise<ProvisionerRecord> {
  const p = await s.provisioners.get(name);
  if (!p) throw new SignetError("unknown_provisioner", `no provisioner named ${JSON.stringify(name)}`);
  if (p.type !== type) throw new SignetError("bad_request", `provisioner ${name} is of type ${p.type}; ${what}`);
  return p;
}

/** Provisioner names by id, for listings that store ids. */
export async function provisionerNames(s: Services): Promise<Map<string, string>> {
  return new Map((await s.provisioners.list()).map((p) => [p.id, p.name]));
}
