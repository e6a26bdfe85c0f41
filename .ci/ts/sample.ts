// A new TypeScript user's first program against Pulse: the client is
// generated from `pulse openapi` (pulse.ts, by openapi-typescript) and this
// file must type-check under --strict with no `any` and no casts. If the
// contract regresses (an array that may be null, a renamed field, a body
// without its type), this stops compiling and CI fails.
import createClient from "openapi-fetch";
import type { components, paths } from "./pulse";

type Agent = components["schemas"]["Agent"];
type Task = components["schemas"]["Task"];
type WorkflowRun = components["schemas"]["WorkflowRun"];

export interface Outcome {
  agents: string[];
  runOutput: string;
  task: Task;
  blockTitles: string[];
  workflowRun: WorkflowRun;
}

function fail(what: string, error: unknown): never {
  throw new Error(`${what} failed: ${JSON.stringify(error)}`);
}

export async function sample(baseUrl: string): Promise<Outcome> {
  const anonymous = createClient<paths>({ baseUrl });

  // Sign up, then sign in (the OAuth2 password grant, sent as JSON).
  const signUp = await anonymous.POST("/api/v1/auth/register", {
    body: { email: "ada@example.com", password: "correct horse battery staple", name: "Ada" },
  });
  if (!signUp.data) fail("sign up", signUp.error);
  const userEmail: string = signUp.data.email;

  const signIn = await anonymous.POST("/api/v1/auth/token", {
    body: { grant_type: "password", username: userEmail, password: "correct horse battery staple" },
  });
  if (!signIn.data) fail("sign in", signIn.error);
  const token: string = signIn.data.access_token;

  const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });

  // Create an agent and list mine.
  const created = await api.POST("/api/v1/agents", {
    body: {
      name: "Support triage",
      instructions: "Answer with the category: billing, bug or question.",
      model: "openai/gpt-4o-mini",
      tools: [{ type: "builtin", name: "current_time" }],
      tags: ["support"],
    },
  });
  if (!created.data) fail("create agent", created.error);
  const agent: Agent = created.data;

  const listed = await api.GET("/api/v1/agents", { params: { query: { limit: 20 } } });
  if (!listed.data) fail("list agents", listed.error);
  // items is Agent[], never null: no `?.` or `?? []` is needed.
  const agents: string[] = listed.data.items.map((a: Agent) => a.name);
  const tagCount: number = agent.tags.length + agent.tools.length + agent.handoffs.length;
  const nextCursor: string | undefined = listed.data.next_cursor;

  // Run it and wait for the result.
  const ran = await api.POST("/api/v1/agents/{id}/runs", {
    params: { path: { id: agent.id } },
    body: { input: "My invoice for March was charged twice." },
  });
  if (!ran.data) fail("run agent", ran.error);
  if (typeof ran.data === "string") fail("run agent (an event stream was not asked for)", ran.data);
  const run = ran.data;
  const runOutput = `${run.status}: ${JSON.stringify(run.output ?? null)} (${run.usage.input_tokens} tokens in)`;
  const steps = await api.GET("/api/v1/runs/{id}/steps", { params: { path: { id: run.id } } });
  if (!steps.data) fail("run steps", steps.error);
  const stepKinds: string[] = steps.data.items.map((s) => s.kind);

  // Create a task and preview a schedule around it.
  const newTask = await api.POST("/api/v1/tasks", {
    body: { title: "Write the lab report", estimate_minutes: 120, priority: "high", due_at: "2030-03-14T17:00:00Z", tags: ["chemistry"] },
  });
  if (!newTask.data) fail("create task", newTask.error);
  const task: Task = newTask.data;
  const dependsOn: number = task.depends_on.length + task.tags.length + task.preferred_windows.length;

  const preview = await api.POST("/api/v1/schedule/preview", {
    body: { from: "2030-03-10T00:00:00Z", to: "2030-03-17T00:00:00Z" },
  });
  if (!preview.data) fail("preview schedule", preview.error);
  const blockTitles: string[] = preview.data.blocks.map((b) => `${b.title} ${b.start}-${b.end}`);
  const leftOut: string[] = preview.data.unscheduled.map((u) => `${u.title}: ${u.reason}`);
  const atRisk: string[] = preview.data.at_risk.map((r) => r.task_id);

  // Create a workflow and run it.
  const wf = await api.POST("/api/v1/workflows", {
    body: {
      name: "Shout",
      definition: { entry: "up", nodes: [{ id: "up", type: "transform", format: { shout: "{{ upper(state.text) }}" } }] },
    },
  });
  if (!wf.data) fail("create workflow", wf.error);
  const started = await api.POST("/api/v1/workflows/{id}/runs", {
    params: { path: { id: wf.data.id } },
    body: { input: { text: "hello" } },
  });
  if (!started.data) fail("run workflow", started.error);
  if (typeof started.data === "string") fail("run workflow (an event stream was not asked for)", started.data);
  const workflowRun: WorkflowRun = started.data;
  const nodes: string[] = workflowRun.current_nodes;

  const runs = await api.GET("/api/v1/workflows/{id}/runs", { params: { path: { id: wf.data.id } } });
  if (!runs.data) fail("list workflow runs", runs.error);
  const runStatuses: string[] = runs.data.items.map((r) => r.status);

  console.log(tagCount, nextCursor, stepKinds, dependsOn, leftOut, atRisk, nodes, runStatuses);
  return { agents, runOutput, task, blockTitles, workflowRun };
}
