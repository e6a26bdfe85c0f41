package auth

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/pulse-run/pulse/internal/platform/httpx"
)

type apiKeyOut struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix" doc:"the key's first characters, to recognise it"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	Key        string     `json:"key,omitempty" doc:"the secret: returned once, at creation"`
}

func apiKeyOutOf(k *APIKey) apiKeyOut {
	return apiKeyOut{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Scopes: strings.Split(k.Scopes, ","), CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt, ExpiresAt: k.ExpiresAt}
}

type createKeyInput struct {
	Body struct {
		Name          string   `json:"name" maxLength:"100"`
		Scopes        []string `json:"scopes,omitempty" maxItems:"3" doc:"read, write, admin (admins only); default read"`
		ExpiresInDays int      `json:"expires_in_days,omitempty" minimum:"0" maximum:"3650" doc:"0 or absent: never expires"`
	}
}

type keyOutput struct{ Body apiKeyOut }

type keysOutput struct {
	Body struct {
		APIKeys []apiKeyOut `json:"api_keys"`
	}
}

func registerAccountOps(v1 *httpx.API, s *Service) {
	utag := []string{"Users"}
	httpx.Register(v1, huma.Operation{OperationID: "get-me", Method: http.MethodGet, Path: "/users/me", Tags: utag,
		Summary: "My account", Security: bearer},
		func(ctx context.Context, _ *struct{}) (*userBody, error) {
			u, err := s.Me(ctx)
			if err != nil {
				return nil, err
			}
			return &userBody{Body: userOut(u)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "update-me", Method: http.MethodPatch, Path: "/users/me", Tags: utag,
		Summary: "Change my profile", Security: bearer},
		func(ctx context.Context, in *updateMeInput) (*userBody, error) {
			u, err := s.UpdateMe(ctx, UpdateMeParams{Name: in.Body.Name, AvatarURL: in.Body.AvatarURL, Timezone: in.Body.Timezone, Locale: in.Body.Locale})
			if err != nil {
				return nil, err
			}
			return &userBody{Body: userOut(u)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "change-password", Method: http.MethodPost, Path: "/users/me/password", Tags: utag,
		Summary: "Change my password (signs out my other sessions)", DefaultStatus: http.StatusNoContent, Security: bearer},
		func(ctx context.Context, in *passwordInput) (*struct{}, error) {
			return nil, s.ChangePassword(ctx, in.Body.CurrentPassword, in.Body.NewPassword)
		})
	httpx.Register(v1, huma.Operation{OperationID: "delete-me", Method: http.MethodDelete, Path: "/users/me", Tags: utag,
		Summary: "Delete my account", DefaultStatus: http.StatusNoContent, Security: bearer},
		func(ctx context.Context, _ *struct{}) (*struct{}, error) { return nil, s.DeleteMe(ctx) })

}

func registerAPIKeyOps(v1 *httpx.API, s *Service) {
	ktag := []string{"API keys"}
	httpx.Register(v1, huma.Operation{OperationID: "create-api-key", Metadata: httpx.OneTimeSecret(), Method: http.MethodPost, Path: "/api-keys", Tags: ktag,
		Summary: "Create an API key (the secret is shown once)", DefaultStatus: http.StatusCreated, Security: bearer},
		func(ctx context.Context, in *createKeyInput) (*keyOutput, error) {
			k, err := s.CreateAPIKey(ctx, CreateAPIKeyParams{Name: in.Body.Name, Scopes: in.Body.Scopes, ExpiresIn: time.Duration(in.Body.ExpiresInDays) * 24 * time.Hour})
			if err != nil {
				return nil, err
			}
			out := apiKeyOutOf(&k.APIKey)
			out.Key = k.Secret
			return &keyOutput{Body: out}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "list-api-keys", Method: http.MethodGet, Path: "/api-keys", Tags: ktag,
		Summary: "List my API keys", Security: bearer},
		func(ctx context.Context, _ *struct{}) (*keysOutput, error) {
			list, err := s.ListAPIKeys(ctx)
			if err != nil {
				return nil, err
			}
			out := &keysOutput{}
			out.Body.APIKeys = make([]apiKeyOut, len(list))
			for i := range list {
				out.Body.APIKeys[i] = apiKeyOutOf(&list[i])
			}
			return out, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "revoke-api-key", Method: http.MethodDelete, Path: "/api-keys/{id}", Tags: ktag,
		Summary: "Revoke an API key", DefaultStatus: http.StatusNoContent, Security: bearer},
		func(ctx context.Context, in *idPath) (*struct{}, error) { return nil, s.RevokeAPIKey(ctx, in.ID) })

}
