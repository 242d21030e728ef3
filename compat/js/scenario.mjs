// The compatibility scenario (see compat/README.md) through the AWS SDK for
// JavaScript v3, @aws-sdk/client-nimble 3.523.0 (package-lock.json).
//
// Environment (compat_test.go sets it): NIMBLE_ENDPOINT_URL,
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (read by the SDK's default
// credential chain) and AWS_DEFAULT_REGION. The server runs with
// --page-size 2, so every list below takes more than one page.
//
// The SDK's waiters poll at least once a second; the scenario polls every
// 100 ms itself (the server completes transitions at once) and uses one SDK
// waiter, at the end, to check that waiters work too.
import { readFileSync } from "node:fs";
import {
  ConflictException,
  CreateLaunchProfileCommand,
  CreateStreamingImageCommand,
  CreateStreamingSessionCommand,
  CreateStudioCommand,
  CreateStudioComponentCommand,
  DeleteLaunchProfileCommand,
  DeleteStreamingImageCommand,
  DeleteStreamingSessionCommand,
  DeleteStudioCommand,
  DeleteStudioComponentCommand,
  GetLaunchProfileCommand,
  GetStreamingImageCommand,
  GetStreamingSessionBackupCommand,
  GetStreamingSessionCommand,
  GetStudioCommand,
  GetStudioComponentCommand,
  ListStreamingSessionBackupsCommand,
  ListStreamingSessionsCommand,
  ListTagsForResourceCommand,
  NimbleClient,
  ResourceNotFoundException,
  StartStreamingSessionCommand,
  StopStreamingSessionCommand,
  TagResourceCommand,
  UntagResourceCommand,
  paginateListStreamingSessionBackups,
  paginateListStreamingSessions,
  waitUntilStudioDeleted,
} from "@aws-sdk/client-nimble";

const POLL_MS = 100;
const sdkVersion = JSON.parse(
  readFileSync(new URL("./node_modules/@aws-sdk/client-nimble/package.json", import.meta.url)),
).version;

const nimble = new NimbleClient({
  endpoint: process.env.NIMBLE_ENDPOINT_URL,
  region: process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION,
});

const log = (msg) => console.log(msg);

function check(cond, msg, ...detail) {
  if (!cond) throw new Error(msg + detail.map((d) => " " + JSON.stringify(d)).join(""));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// poll calls fn every POLL_MS until it returns something truthy.
async function poll(desc, fn, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error("timed out waiting for " + desc);
    await sleep(POLL_MS);
  }
}

// waitState polls get() until the resource reaches want; states outside
// want and pass (the transition's own) fail at once.
async function waitState(desc, get, want, pass) {
  return poll(`${desc} ${want}`, async () => {
    const r = await get();
    check(r.state === want || pass.includes(r.state), `${desc}: unexpected state`, r.state, r.statusMessage);
    return r.state === want ? r : null;
  });
}

const isDate = (d) => d instanceof Date && !Number.isNaN(d.getTime()) && Math.abs(Date.now() - d.getTime()) < 10 * 60 * 1000;

async function expectError(type, what, command) {
  try {
    await nimble.send(command);
  } catch (e) {
    check(e instanceof type, `${what}: want ${type.name}, got`, e.name, e.message);
    check(e.name === type.name && e.message && [404, 409].includes(e.$metadata.httpStatusCode), `${what}: error`, e.name, e.$metadata);
    log(`ok: ${what} raised ${e.name} (HTTP ${e.$metadata.httpStatusCode}): ${e.message}`);
    return;
  }
  throw new Error(`${what}: want ${type.name}, got success`);
}

// allPages follows nextToken with the SDK's paginator.
async function allPages(paginate, input, key) {
  const items = [];
  let pages = 0;
  for await (const page of paginate({ client: nimble }, input)) {
    pages++;
    check(pages <= 50, "more than 50 pages: is nextToken honoured?");
    items.push(...page[key]);
  }
  return { items, pages };
}

const sameSet = (a, b) => a.length === b.length && new Set(a).size === a.length && a.every((x) => b.includes(x));

let studioId, launchProfileId;

const getSession = async (sessionId) => (await nimble.send(new GetStreamingSessionCommand({ studioId, sessionId }))).session;
const getBackup = async (backupId) =>
  (await nimble.send(new GetStreamingSessionBackupCommand({ studioId, backupId }))).streamingSessionBackup;
const backups = async (input = {}) =>
  allPages(paginateListStreamingSessionBackups, { studioId, ...input }, "streamingSessionBackups");

async function stop(sessionId) {
  const { session } = await nimble.send(new StopStreamingSessionCommand({ studioId, sessionId, volumeRetentionMode: "RETAIN" }));
  check(["STOP_IN_PROGRESS", "STOPPED"].includes(session.state), "stop response", session.state);
  const s = await waitState(`session ${sessionId}`, () => getSession(sessionId), "STOPPED", ["STOP_IN_PROGRESS"]);
  check(isDate(s.stoppedAt) && s.stoppedBy === "test", "stopped session", s);
}

async function start(sessionId, backupId) {
  const { session } = await nimble.send(new StartStreamingSessionCommand({ studioId, sessionId, backupId }));
  check(["START_IN_PROGRESS", "READY"].includes(session.state), "start response", session.state);
  if (backupId) check(session.startedFromBackupId === backupId, "start response startedFromBackupId", session);
  return waitState(`session ${sessionId}`, () => getSession(sessionId), "READY", ["START_IN_PROGRESS"]);
}

// waitBackup waits for a new backup of sessionId (not in known) to be listed,
// then for GetStreamingSessionBackup to say READY.
async function waitBackup(sessionId, known) {
  const id = await poll(`a new backup of ${sessionId}`, async () => {
    const { items } = await backups();
    const b = items.find(
      (b) => b.sessionId === sessionId && ["CREATE_IN_PROGRESS", "READY"].includes(b.state) && !known.includes(b.backupId),
    );
    return b?.backupId;
  });
  const b = await waitState(`backup ${id}`, () => getBackup(id), "READY", ["CREATE_IN_PROGRESS"]);
  check(
    b.backupId === id && b.sessionId === sessionId && b.arn.startsWith("arn:aws:nimble:") && b.arn.endsWith(id) &&
      b.ownedBy === "test" && b.launchProfileId === launchProfileId && isDate(b.createdAt),
    "ready backup",
    b,
  );
  log(`ok: backup ${id} of ${sessionId} READY`);
  return id;
}

async function tagsOf(resourceArn) {
  const { tags } = await nimble.send(new ListTagsForResourceCommand({ resourceArn }));
  return Object.entries(tags ?? {}).map(([k, v]) => `${k}=${v}`).sort().join(",");
}

async function main() {
  const { studio } = await nimble.send(
    new CreateStudioCommand({
      studioName: "compatjs",
      displayName: "Compat JS",
      adminRoleArn: "arn:aws:iam::000000000000:role/admin",
      userRoleArn: "arn:aws:iam::000000000000:role/user",
      tags: { suite: "compat" },
    }),
  );
  studioId = studio.studioId;
  check(isDate(studio.createdAt), "studio createdAt", studio.createdAt);
  await waitState("studio", async () => (await nimble.send(new GetStudioCommand({ studioId }))).studio, "READY", ["CREATE_IN_PROGRESS"]);
  log(`ok: studio ${studioId} READY`);

  const streamingImageId = (
    await nimble.send(
      new CreateStreamingImageCommand({ studioId, name: "compat-image", description: "compat", ec2ImageId: "ami-0123456789abcdef0" }),
    )
  ).streamingImage.streamingImageId;
  await waitState(
    "streaming image",
    async () => (await nimble.send(new GetStreamingImageCommand({ studioId, streamingImageId }))).streamingImage,
    "READY",
    ["CREATE_IN_PROGRESS"],
  );
  log(`ok: streaming image ${streamingImageId} READY`);

  const studioComponentId = (
    await nimble.send(new CreateStudioComponentCommand({ studioId, name: "compat-component", type: "CUSTOM", description: "compat" }))
  ).studioComponent.studioComponentId;
  await waitState(
    "studio component",
    async () => (await nimble.send(new GetStudioComponentCommand({ studioId, studioComponentId }))).studioComponent,
    "READY",
    ["CREATE_IN_PROGRESS"],
  );
  log(`ok: studio component ${studioComponentId} READY`);

  launchProfileId = (
    await nimble.send(
      new CreateLaunchProfileCommand({
        studioId,
        name: "compat-profile",
        description: "compat",
        ec2SubnetIds: ["subnet-0123456789abcdef0"],
        launchProfileProtocolVersions: ["2021-03-31"],
        studioComponentIds: [studioComponentId],
        streamConfiguration: {
          clipboardMode: "ENABLED",
          ec2InstanceTypes: ["g4dn.xlarge", "g4dn.2xlarge"],
          streamingImageIds: [streamingImageId],
          maxSessionLengthInMinutes: 60,
          sessionPersistenceMode: "ACTIVATED",
          automaticTerminationMode: "ACTIVATED",
          maxStoppedSessionLengthInMinutes: 120,
          sessionBackup: { mode: "AUTOMATIC", maxBackupsToRetain: 2 },
        },
      }),
    )
  ).launchProfile.launchProfileId;
  const lp = await waitState(
    "launch profile",
    async () => (await nimble.send(new GetLaunchProfileCommand({ studioId, launchProfileId }))).launchProfile,
    "READY",
    ["CREATE_IN_PROGRESS"],
  );
  const sb = lp.streamConfiguration.sessionBackup;
  check(sb.mode === "AUTOMATIC" && sb.maxBackupsToRetain === 2, "sessionBackup", sb);
  log(`ok: launch profile ${launchProfileId} READY with sessionBackup AUTOMATIC/2`);

  // Three sessions: more than one page of ListStreamingSessions.
  const sessions = [];
  for (let i = 0; i < 3; i++) {
    const { session } = await nimble.send(
      new CreateStreamingSessionCommand({
        studioId,
        launchProfileId,
        ec2InstanceType: "g4dn.xlarge",
        streamingImageId,
        tags: { session: String(i) },
      }),
    );
    check(session.state === "CREATE_IN_PROGRESS", "created session", session.state);
    sessions.push(session.sessionId);
  }
  for (const id of sessions) {
    const s = await waitState(`session ${id}`, () => getSession(id), "READY", ["CREATE_IN_PROGRESS"]);
    check(
      s.backupMode === "AUTOMATIC" && s.maxBackupsToRetain === 2 && s.sessionPersistenceMode === "ACTIVATED" && s.ownedBy === "test" &&
        isDate(s.createdAt) && isDate(s.startedAt),
      "ready session",
      s,
    );
  }
  log(`ok: sessions ${sessions.join(", ")} READY`);
  const [s1, s2, s3] = sessions;

  const first = await nimble.send(new ListStreamingSessionsCommand({ studioId }));
  check(first.sessions.length < 3 && first.nextToken, "the first page should not hold all sessions:", first.sessions.length, first.nextToken);
  let { items, pages } = await allPages(paginateListStreamingSessions, { studioId }, "sessions");
  check(sameSet(items.map((s) => s.sessionId), sessions) && pages >= 2, "paginated sessions", items.length, pages);
  log(`ok: ListStreamingSessions returned the 3 sessions in ${pages} pages`);

  // Stop: an AUTOMATIC backup; start from it.
  await stop(s1);
  const b1 = await waitBackup(s1, []);
  const started = await start(s1, b1);
  check(started.startedFromBackupId === b1, "session started from backup", started);
  log(`ok: session ${s1} started from ${b1}`);

  await stop(s2);
  const b2 = await waitBackup(s2, []);
  await stop(s3);
  const b3 = await waitBackup(s3, []);
  const fb = await nimble.send(new ListStreamingSessionBackupsCommand({ studioId }));
  check(fb.streamingSessionBackups.length < 3 && fb.nextToken, "the first page should not hold all backups:", fb.streamingSessionBackups.length, fb.nextToken);
  ({ items, pages } = await backups({ ownedBy: "test" }));
  check(sameSet(items.map((b) => b.backupId), [b1, b2, b3]) && pages >= 2, "paginated backups", items.length, pages);
  log(`ok: ListStreamingSessionBackups returned the 3 backups in ${pages} pages`);

  // Errors, typed.
  const unknownBackup = "bak-doesnotexist0000";
  await expectError(ResourceNotFoundException, "GetStreamingSessionBackup", new GetStreamingSessionBackupCommand({ studioId, backupId: unknownBackup }));
  await expectError(
    ResourceNotFoundException,
    "StartStreamingSession from an unknown backup",
    new StartStreamingSessionCommand({ studioId, sessionId: s2, backupId: unknownBackup }),
  );
  await expectError(ResourceNotFoundException, "GetStreamingSession", new GetStreamingSessionCommand({ studioId, sessionId: "ses-doesnotexist0000" }));
  await expectError(ConflictException, "StartStreamingSession of a READY session", new StartStreamingSessionCommand({ studioId, sessionId: s1 }));

  // maxBackupsToRetain 2: two more stops of s1 leave its two newest backups.
  await stop(s1);
  const b4 = await waitBackup(s1, [b1]);
  await start(s1);
  await stop(s1);
  const b5 = await waitBackup(s1, [b1, b4]);
  await poll(`${s1} to keep only its two newest backups`, async () => {
    const { items } = await backups();
    return sameSet(items.filter((b) => b.sessionId === s1 && b.state === "READY").map((b) => b.backupId), [b4, b5]);
  });
  try {
    const old = await getBackup(b1);
    check(["DELETE_IN_PROGRESS", "DELETED"].includes(old.state), "pruned backup", old);
  } catch (e) {
    if (!(e instanceof ResourceNotFoundException)) throw e; // already purged
  }
  log(`ok: ${s1} keeps backups ${b4} and ${b5}; ${b1} was pruned`);

  // Tags.
  const arn = (await getSession(s1)).arn;
  await nimble.send(new TagResourceCommand({ resourceArn: arn, tags: { team: "fx", stage: "compat" } }));
  let tags = await tagsOf(arn);
  check(tags === "session=0,stage=compat,team=fx", "tags after TagResource", tags);
  await nimble.send(new UntagResourceCommand({ resourceArn: arn, tagKeys: ["stage", "session"] }));
  tags = await tagsOf(arn);
  check(tags === "team=fx", "tags after UntagResource", tags);
  tags = await tagsOf((await getBackup(b5)).arn);
  check(tags === "session=0", "backup tags", tags);
  await expectError(
    ResourceNotFoundException,
    "ListTagsForResource of an unknown session",
    new ListTagsForResourceCommand({ resourceArn: arn.slice(0, arn.lastIndexOf("/") + 1) + "ses-doesnotexist0000" }),
  );
  log("ok: TagResource, ListTagsForResource, UntagResource");

  // Delete everything, waiting for DELETED.
  for (const sessionId of sessions) {
    const { session } = await nimble.send(new DeleteStreamingSessionCommand({ studioId, sessionId }));
    check(["DELETE_IN_PROGRESS", "DELETED"].includes(session.state), "delete response", session.state);
  }
  for (const id of sessions) await waitState(`session ${id}`, () => getSession(id), "DELETED", ["DELETE_IN_PROGRESS"]);
  ({ items } = await allPages(paginateListStreamingSessions, { studioId }, "sessions"));
  check(items.length === 0, "sessions left", items);
  await poll("the sessions' backups to be deleted", async () => (await backups()).items.length === 0);
  log("ok: sessions and their backups DELETED");

  await nimble.send(new DeleteLaunchProfileCommand({ studioId, launchProfileId }));
  await waitState(
    "launch profile",
    async () => (await nimble.send(new GetLaunchProfileCommand({ studioId, launchProfileId }))).launchProfile,
    "DELETED",
    ["DELETE_IN_PROGRESS"],
  );
  await nimble.send(new DeleteStudioComponentCommand({ studioId, studioComponentId }));
  await waitState(
    "studio component",
    async () => (await nimble.send(new GetStudioComponentCommand({ studioId, studioComponentId }))).studioComponent,
    "DELETED",
    ["DELETE_IN_PROGRESS"],
  );
  await nimble.send(new DeleteStreamingImageCommand({ studioId, streamingImageId }));
  await waitState(
    "streaming image",
    async () => (await nimble.send(new GetStreamingImageCommand({ studioId, streamingImageId }))).streamingImage,
    "DELETED",
    ["DELETE_IN_PROGRESS"],
  );
  await nimble.send(new DeleteStudioCommand({ studioId }));
  // The SDK's own waiter (it polls once a second at the fastest).
  const w = await waitUntilStudioDeleted({ client: nimble, maxWaitTime: 30, minDelay: 1, maxDelay: 1 }, { studioId });
  check(w.state === "SUCCESS", "StudioDeleted waiter", w.state);
  log("ok: launch profile, studio component, streaming image and studio DELETED");
  log(`PASS @aws-sdk/client-nimble ${sdkVersion} on node ${process.version}`);
}

main().catch((e) => {
  console.error(e);
  console.error("FAIL:", e.message);
  process.exit(1);
});
