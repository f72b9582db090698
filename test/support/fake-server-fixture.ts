// The usual setup of a test against the fake sidecar: the fake, a session, and a test foreign server
// aimed at the fake, made before the enclosing describe's tests and removed after them.
import type pg from "pg";
import { afterAll, beforeAll } from "vitest";
import { connect } from "./db.js";
import { FakeSidecar } from "./fake-sidecar.js";
import { createTestServer, dropTestServer } from "./foreign-server.js";

export interface FakeServerFixture {
  fake: FakeSidecar;
  client: pg.Client;
}

/** Registers the hooks; the fields are set once beforeAll has run. */
export function useFakeServer(name: string, options: { timeout: string }): FakeServerFixture {
  const fixture = {} as FakeServerFixture;
  beforeAll(async () => {
    fixture.fake = await FakeSidecar.start();
    fixture.client = await connect();
    await createTestServer(fixture.client, name, {
      socket: fixture.fake.socketPath,
      timeout: options.timeout,
    });
  });
  afterAll(async () => {
    if (fixture.client) await dropTestServer(fixture.client, name);
    await fixture.client?.end();
    await fixture.fake?.stop();
  });
  return fixture;
}
