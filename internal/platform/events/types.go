package events

// Type names what an event says happened. Its value is part of the API: the
// Server-Sent Events event name, and the "type" WebSocket clients and
// replays see. The constants below are every type Pulse publishes; a test
// pins their wire values.
type Type string

// Events of a run, an agent's or a workflow's (topic RunKey).
const (
	RunCreated        Type = "run.created"
	RunCompleted      Type = "run.completed"
	RunFailed         Type = "run.failed"
	RunCancelled      Type = "run.cancelled"
	RunRequiresAction Type = "run.requires_action" // an agent run waits for an approval
	RunInterrupted    Type = "run.interrupted"     // a workflow run waits for input
	RunRetrying       Type = "run.retrying"        // an attempt failed and the run is queued again
	RunRequeued       Type = "run.requeued"        // the run continues elsewhere (its worker stopped, or the client left)
	MessageDelta      Type = "message.delta"       // model tokens; ephemeral, never replayed
)

// Events of an agent run's steps.
const (
	StepStarted       Type = "step.started"
	StepCompleted     Type = "step.completed"
	ToolCalled        Type = "tool.called"
	ToolResult        Type = "tool.result"
	ApprovalRequested Type = "approval.requested"
)

// Events of a workflow run's nodes.
const (
	NodeStarted     Type = "node.started"
	NodeCompleted   Type = "node.completed"
	NodeFailed      Type = "node.failed"
	NodeRetrying    Type = "node.retrying"
	NodeInterrupted Type = "node.interrupted"
	StateUpdated    Type = "state.updated"
)

// Control messages between processes (topic ControlTopic); never seen by
// clients.
const (
	CancelAgentRun    Type = "cancel"
	CancelWorkflowRun Type = "workflow.cancel"
)

// Events that end a client's event stream (realtime); they have no topic.
const (
	StreamError    Type = "error"    // the client read too slowly and was dropped
	StreamShutdown Type = "shutdown" // the server is going away; reconnect
	StreamReauth   Type = "reauth"   // the credential expired; reconnect with a new one
)
