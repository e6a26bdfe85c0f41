package auth

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/audit"
	"github.com/pulse-run/pulse/internal/platform/httpx"
)

type adminUsersInput struct {
	Email  string `query:"email" maxLength:"254" doc:"part of the email"`
	Cursor string `query:"cursor" maxLength:"64"`
	Limit  int    `query:"limit" minimum:"0" maximum:"200"`
}

type adminUsersOutput struct {
	Body struct {
		Users      []UserOut `json:"users"`
		NextCursor string    `json:"next_cursor,omitempty"`
	}
}

type adminPatchInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		Active *bool   `json:"active,omitempty"`
		Role   *string `json:"role,omitempty" enum:"user,admin"`
	}
}

type auditInput struct {
	Action    string    `query:"action" maxLength:"100"`
	ActorID   string    `query:"actor_id" maxLength:"64"`
	SubjectID string    `query:"subject_id" maxLength:"64"`
	Outcome   string    `query:"outcome" enum:"success,failure,"`
	Since     time.Time `query:"since"`
	Until     time.Time `query:"until"`
	Cursor    string    `query:"cursor" maxLength:"64"`
	Limit     int       `query:"limit" minimum:"0" maximum:"200"`
}

type auditOutput struct {
	Body struct {
		Events     []audit.Event `json:"events"`
		NextCursor string        `json:"next_cursor,omitempty"`
	}
}

func registerAdminOps(v1 *httpx.API, s *Service) {
	atag := []string{"Admin"}
	httpx.Register(v1, huma.Operation{OperationID: "admin-list-users", Method: http.MethodGet, Path: "/admin/users", Tags: atag,
		Summary: "List accounts", Security: bearer},
		func(ctx context.Context, in *adminUsersInput) (*adminUsersOutput, error) {
			list, next, err := s.ListUsers(ctx, ListUsersParams{Email: in.Email, Before: in.Cursor, Limit: in.Limit})
			if err != nil {
				return nil, err
			}
			out := &adminUsersOutput{}
			out.Body.Users = make([]UserOut, len(list))
			for i := range list {
				out.Body.Users[i] = userOut(&list[i])
			}
			out.Body.NextCursor = next
			return out, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "admin-update-user", Method: http.MethodPatch, Path: "/admin/users/{id}", Tags: atag,
		Summary: "Activate, deactivate or change the role of an account", Security: bearer},
		func(ctx context.Context, in *adminPatchInput) (*userBody, error) {
			var u *User
			var err error
			if in.Body.Active != nil {
				if u, err = s.SetActive(ctx, in.ID, *in.Body.Active); err != nil {
					return nil, err
				}
			}
			if in.Body.Role != nil {
				if u, err = s.SetRole(ctx, in.ID, *in.Body.Role); err != nil {
					return nil, err
				}
			}
			if u == nil {
				return nil, apperr.InvalidField("body", "give active and/or role")
			}
			return &userBody{Body: userOut(u)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "admin-audit", Method: http.MethodGet, Path: "/admin/audit", Tags: atag,
		Summary: "Read the audit log, newest first", Security: bearer},
		func(ctx context.Context, in *auditInput) (*auditOutput, error) {
			list, next, err := s.AuditEvents(ctx, audit.Filter{Action: in.Action, ActorID: in.ActorID, SubjectID: in.SubjectID,
				Outcome: in.Outcome, Since: in.Since, Until: in.Until, Before: in.Cursor, Limit: in.Limit})
			if err != nil {
				return nil, err
			}
			out := &auditOutput{}
			out.Body.Events, out.Body.NextCursor = list, next
			if out.Body.Events == nil {
				out.Body.Events = []audit.Event{}
			}
			return out, nil
		})

}
