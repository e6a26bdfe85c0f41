package run

import (
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Statuses and error codes are part of the API: renaming one must be a
// deliberate change here.
func TestStatusAndErrorCodeWireValues(t *testing.T) {
	t.Parallel()
	require.Equal(t, map[Status]string{StatusQueued: "queued", StatusRunning: "running", StatusRequiresAction: "requires_action",
		StatusSucceeded: "succeeded", StatusFailed: "failed", StatusCancelled: "cancelled"}, wire(Statuses))
	require.Equal(t, map[ErrorCode]string{CodeStorageError: "storage_error", CodeProviderError: "provider_error",
		CodeProviderUnavailable: "provider_unavailable", CodeToolUnavailable: "tool_unavailable", CodeCancelled: "cancelled",
		CodeInvalidOutput: "invalid_output", CodeMaxTurnsExceeded: "max_turns_exceeded", CodeGuardrailTripped: "guardrail_tripped",
		CodeGuardrailError: "guardrail_error", CodeDeadlineExceeded: "deadline_exceeded", CodeInternal: "internal"}, wire(ErrorCodes))
	require.Equal(t, map[StepStatus]string{StepSucceeded: "succeeded", StepFailed: "failed"}, wire([]StepStatus{StepSucceeded, StepFailed}))
}

// The OpenAPI document lists a run's statuses from the enum tags: they are
// exactly the constants, in order (the list filter also takes "").
func TestStatusesAreWhatTheAPIDocuments(t *testing.T) {
	t.Parallel()
	var want []string
	for _, s := range Statuses {
		want = append(want, string(s))
	}
	out, _ := reflect.TypeFor[RunOut]().FieldByName("Status")
	require.Equal(t, want, strings.Split(out.Tag.Get("enum"), ","))
	list, _ := reflect.TypeFor[runListInput]().FieldByName("Status")
	require.Equal(t, append(want, ""), strings.Split(list.Tag.Get("enum"), ","))
	step, _ := reflect.TypeFor[Step]().FieldByName("Status")
	require.Equal(t, []string{string(StepSucceeded), string(StepFailed)}, strings.Split(step.Tag.Get("enum"), ","))
	code, _ := reflect.TypeFor[RunError]().FieldByName("Code")
	for _, example := range strings.Split(strings.TrimPrefix(code.Tag.Get("doc"), "e.g. "), ", ") {
		require.Contains(t, ErrorCodes, ErrorCode(example), "the schema's examples are real codes")
	}
}

func wire[T ~string](all []T) map[T]string {
	out := map[T]string{}
	for _, v := range all {
		out[v] = string(v)
	}
	return out
}
