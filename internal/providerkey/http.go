package providerkey

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/pulse-run/pulse/internal/platform/httpx"
)

var bearer = []map[string][]string{{"bearer": {}}, {"oauth2": {}}}

// KeyOut is a key as the API shows it: never the secret.
type KeyOut struct {
	ID        string    `json:"id"`
	Provider  string    `json:"provider"`
	Label     string    `json:"label"`
	Key       string    `json:"key" doc:"masked: only the last 4 characters"`
	BaseURL   string    `json:"base_url,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

func keyOut(k *Key) KeyOut {
	return KeyOut{ID: k.ID, Provider: k.Provider, Label: k.Label, Key: k.Masked(), BaseURL: k.BaseURL, CreatedAt: k.CreatedAt}
}

type keyCreateInput struct {
	Body struct {
		Provider string `json:"provider" maxLength:"32"`
		Key      string `json:"key" maxLength:"500"`
		Label    string `json:"label,omitempty" maxLength:"100"`
		BaseURL  string `json:"base_url,omitempty" maxLength:"500" doc:"OpenAI-compatible servers: the API base URL (must be public)"`
	}
}

type keyBody struct{ Body KeyOut }

type keysListOutput struct {
	Body struct {
		Items []KeyOut `json:"items"`
	}
}

type keyIDInput struct {
	ID string `path:"id" maxLength:"64"`
}

// Register adds the provider key operations.
func Register(v1 *httpx.API, s *Service) {
	tag := []string{"Provider keys"}
	httpx.Register(v1, huma.Operation{OperationID: "create-provider-key", Method: http.MethodPost, Path: "/provider-keys", Tags: tag,
		Summary: "Use my own key for a model provider", DefaultStatus: http.StatusCreated, Security: bearer},
		func(ctx context.Context, in *keyCreateInput) (*keyBody, error) {
			k, err := s.Create(ctx, CreateParams{Provider: in.Body.Provider, Key: in.Body.Key, Label: in.Body.Label, BaseURL: in.Body.BaseURL})
			if err != nil {
				return nil, err
			}
			return &keyBody{Body: keyOut(k)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "list-provider-keys", Method: http.MethodGet, Path: "/provider-keys", Tags: tag,
		Summary: "My provider keys (masked)", Security: bearer},
		func(ctx context.Context, _ *struct{}) (*keysListOutput, error) {
			keys, err := s.List(ctx)
			if err != nil {
				return nil, err
			}
			out := &keysListOutput{}
			out.Body.Items = make([]KeyOut, len(keys))
			for i := range keys {
				out.Body.Items[i] = keyOut(&keys[i])
			}
			return out, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "delete-provider-key", Method: http.MethodDelete, Path: "/provider-keys/{id}", Tags: tag,
		Summary: "Delete a provider key", DefaultStatus: http.StatusNoContent, Security: bearer},
		func(ctx context.Context, in *keyIDInput) (*struct{}, error) { return nil, s.Delete(ctx, in.ID) })
}
