package job

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/pulse-run/pulse/internal/platform/httpx"
)

type startJobInput struct {
	Body struct {
		Type    string         `json:"type" maxLength:"64" doc:"the task: \"agent\" (payload {agent_id, input, conversation_id?}) or a type a feature registered"`
		Payload map[string]any `json:"payload,omitempty" doc:"the task's input, as its type describes"`
	}
}

type startJobOutput struct {
	Location string `header:"Location"`
	Body     struct {
		JobID  string `json:"job_id"`
		Status string `json:"status"`
	}
}

type jobViewOutput struct{ Body *JobView }

type jobIDInput struct {
	ID string `path:"job_id" maxLength:"64"`
}

// Register adds the job operations.
func Register(v1 *httpx.API, s *Service) {
	tag := []string{"Jobs"}
	bearer := []map[string][]string{{"bearer": {}}, {"oauth2": {}}}
	httpx.Register(v1, huma.Operation{OperationID: "start-job", Method: http.MethodPost, Path: "/agent/run", Tags: tag,
		Summary: "Start a background task; answers 202 with its job id at once", DefaultStatus: http.StatusAccepted, Security: bearer},
		func(ctx context.Context, in *startJobInput) (*startJobOutput, error) {
			var payload json.RawMessage
			if in.Body.Payload != nil {
				payload, _ = json.Marshal(in.Body.Payload)
			}
			v, err := s.Start(ctx, in.Body.Type, payload)
			if err != nil {
				return nil, err
			}
			out := &startJobOutput{Location: httpx.APIPrefix + "/jobs/" + v.JobID}
			out.Body.JobID, out.Body.Status = v.JobID, v.Status
			return out, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "get-job", Method: http.MethodGet, Path: "/jobs/{job_id}", Tags: tag,
		Summary: "A job's status, and its result or error once it ended", Security: bearer},
		func(ctx context.Context, in *jobIDInput) (*jobViewOutput, error) {
			v, err := s.Get(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			return &jobViewOutput{Body: v}, nil
		})
}
