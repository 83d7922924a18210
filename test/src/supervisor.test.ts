// Restart policy of src/supervisor.ts on real child processes. These use test/support/crashyRuntime.ts
// (a real vscode-jsonrpc child) so crash timing is deterministic; the clock is a fake so "within 3
// minutes" is decided without waiting. The kill-mid-answer test on the real runtime is in
// test/src/runtimeClient.test.ts.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mock, window } from '../support/vscode';
import { Supervisor, RuntimeFailedError, RESTART_ACTION } from '../../src/supervisor';
import type { RuntimeState } from '../../core/protocol/webview';
import { crashyLaunch, isAlive, until } from '../support/runtimeLaunch';

beforeEach(() => mock.reset());

function setup(opts: { maxRestarts?: number } = {}) {
  const channel = window.createOutputChannel('ThinK Lens', { log: true });
  const clock = { t: 0, now() { return this.t; } };
  let starts = 0;
  const sup = new Supervisor({ launch: () => (starts++, crashyLaunch()), log: channel, clock, ...opts });
  const states: Exclude<RuntimeState, 'busy'>[] = [];
  sup.onDidChangeState((s) => states.push(s));
  return { sup, clock, channel, states, starts: () => starts };
}

async function crashAndSettle(sup: Supervisor, expect: 'ready' | 'failed'): Promise<number | undefined> {
  const c = await sup.client();
  const pid = c.pid;
  c.kill('SIGKILL');
  await until(() => !isAlive(pid) && sup.state === expect);
  return pid;
}

test('a crashed runtime is restarted and the next request works', async (t) => {
  const { sup, channel, states } = setup();
  t.after(() => sup.dispose());
  const first = await sup.client();
  const pid1 = first.pid;
  assert.equal((await first.request('stats', undefined)).loaded, false);
  await crashAndSettle(sup, 'ready');
  const second = await sup.client();
  assert.notEqual(second.pid, pid1, 'a new process was started');
  assert.equal((await second.request('stats', undefined)).busy, false);
  assert.deepEqual(states, ['starting', 'ready', 'crashed', 'starting', 'ready']);
  // The runtime's stderr reached the log, and the crash was logged with its cause.
  assert.match(channel.text(), /runtime stderr: crashy runtime \d+ up/);
  assert.match(channel.text(), /\[warn\] runtime crashed \(killed by SIGKILL\); restarting/);
});

test('a crash with an exit code is reported with that code, and pending requests fail clearly', async (t) => {
  const { sup, channel } = setup();
  t.after(() => sup.dispose());
  const c = await sup.client();
  const raw = c.request as unknown as (m: string, p: unknown) => Promise<unknown>;
  await assert.rejects(raw.call(c, 'crash', { code: 7 }), /The ThinK Lens runtime stopped \(exit code 7\) during 'crash'/);
  await until(() => sup.state === 'ready');
  assert.match(channel.text(), /runtime crashed \(exit code 7\)/);
});

test('the fourth crash within 3 minutes stops restarts and offers Restart Runtime', async (t) => {
  const { sup, clock, starts } = setup();
  t.after(() => sup.dispose());
  await sup.client();
  for (const minute of [0, 1, 2]) {
    clock.t = minute * 60_000;
    await crashAndSettle(sup, 'ready');
  }
  assert.equal(starts(), 4);
  clock.t = 2.9 * 60_000;
  const shown = mock.waitForMessage((m) => m.kind === 'error');
  await crashAndSettle(sup, 'failed');
  const msg = await shown;
  assert.match(msg.message, /crashed 4 times within 3 minutes \(last: killed by SIGKILL\)\. Automatic restarts are stopped/);
  assert.ok(msg.items.includes(RESTART_ACTION), 'the error offers Restart Runtime');
  assert.equal(starts(), 4, 'no fifth process was started');
  assert.equal(sup.current, undefined);
  await assert.rejects(sup.client(), RuntimeFailedError);
});

test('choosing Restart Runtime on the error starts a fresh runtime with a clean crash history', async (t) => {
  const { sup, clock } = setup({ maxRestarts: 1 });
  t.after(() => sup.dispose());
  mock.respond((m) => (m.items.includes(RESTART_ACTION) ? RESTART_ACTION : undefined));
  await sup.client();
  await crashAndSettle(sup, 'ready');
  clock.t = 1000;
  const c = await sup.client();
  c.kill('SIGKILL');
  // The scripted click on Restart brings it back.
  await until(() => sup.state === 'ready' && sup.current !== undefined && sup.current.pid !== c.pid);
  assert.ok(mock.messages.some((m) => m.kind === 'error' && /crashed 2 times/.test(m.message)));
  // History was cleared: one more crash is restarted automatically.
  await crashAndSettle(sup, 'ready');
  assert.equal((await (await sup.client()).request('stats', undefined)).loaded, false);
});

test('crashes older than the window do not count', async (t) => {
  const { sup, clock } = setup();
  t.after(() => sup.dispose());
  await sup.client();
  for (const minute of [0, 1, 2, 3.5]) {
    clock.t = minute * 60_000;
    await crashAndSettle(sup, 'ready');
  }
  assert.equal(mock.messages.length, 0, 'no error: the crash at minute 0 left the window before the fourth');
});

test('dispose stops the child process and does not restart it', async () => {
  const { sup, states } = setup();
  const c = await sup.client();
  const pid = c.pid;
  assert.ok(isAlive(pid));
  await sup.dispose();
  assert.equal(isAlive(pid), false, 'the runtime process is gone');
  assert.equal(states.at(-1), 'stopped');
  await assert.rejects(sup.client(), /shutting down/);
});

test('a launch whose executable does not exist fails with the spawn error', async (t) => {
  mock.reset();
  const channel = window.createOutputChannel('ThinK Lens', { log: true });
  const sup = new Supervisor({
    launch: () => ({ command: '/nonexistent/node', args: [], cwd: '/', env: {}, description: 'missing executable' }),
    log: channel,
    maxRestarts: 0,
  });
  t.after(() => sup.dispose());
  await assert.rejects(sup.client(), /could not start: spawn \/nonexistent\/node ENOENT/);
  await until(() => sup.state === 'failed');
});
