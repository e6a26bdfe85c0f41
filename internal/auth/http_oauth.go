package auth

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/pulse-run/pulse/internal/platform/httpx"
)

type providersOutput struct {
	Body struct {
		Providers []string `json:"providers" doc:"names usable in /auth/oauth/{provider}/authorize"`
	}
}

type authorizeInput struct {
	Provider   string `path:"provider" maxLength:"32"`
	RedirectTo string `query:"redirect_to" maxLength:"1000" doc:"a path on the app to return to, e.g. /dashboard"`
}

type linkInput struct {
	Provider string `path:"provider" maxLength:"32"`
	Body     struct {
		RedirectTo string `json:"redirect_to,omitempty" maxLength:"1000"`
	}
}

type callbackInput struct {
	Provider string `path:"provider" maxLength:"32"`
	Code     string `query:"code" maxLength:"2000"`
	State    string `query:"state" maxLength:"200"`
	Error    string `query:"error" maxLength:"200"`
}

type redirectOutput struct {
	Status   int
	Location string `header:"Location"`
}

type authURLOutput struct {
	Body struct {
		AuthorizationURL string `json:"authorization_url"`
	}
}

type identityOut struct {
	ID          string    `json:"id"`
	Provider    string    `json:"provider"`
	Email       string    `json:"email"`
	CreatedAt   time.Time `json:"created_at"`
	LastLoginAt time.Time `json:"last_login_at"`
}

type identitiesOutput struct {
	Body struct {
		Identities []identityOut `json:"identities"`
	}
}

func registerOAuthOps(v1 *httpx.API, s *Service) {
	otag := []string{"OAuth"}
	httpx.Register(v1, huma.Operation{OperationID: "oauth-providers", Method: http.MethodGet, Path: "/auth/oauth/providers", Tags: otag,
		Summary: "Enabled sign-in providers"},
		func(context.Context, *struct{}) (*providersOutput, error) {
			out := &providersOutput{}
			out.Body.Providers = s.Providers()
			return out, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "oauth-authorize", Method: http.MethodGet, Path: "/auth/oauth/{provider}/authorize", Tags: otag,
		Summary:       "Begin signing in with a provider (redirects to it)",
		Description:   "The provider sends the browser back to the callback, which redirects to the app at redirect_to with ?code=… (exchange it at /auth/token with grant_type=authorization_code) or ?error=….",
		DefaultStatus: http.StatusFound},
		func(ctx context.Context, in *authorizeInput) (*redirectOutput, error) {
			u, err := s.StartOAuth(ctx, in.Provider, in.RedirectTo, false)
			if err != nil {
				return nil, err
			}
			return &redirectOutput{Status: http.StatusFound, Location: u}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "oauth-link", Method: http.MethodPost, Path: "/auth/oauth/{provider}/link", Tags: otag,
		Summary: "Begin linking a provider to my account", Description: "Returns the URL to send the browser to.", Security: bearer},
		func(ctx context.Context, in *linkInput) (*authURLOutput, error) {
			u, err := s.StartOAuth(ctx, in.Provider, in.Body.RedirectTo, true)
			if err != nil {
				return nil, err
			}
			out := &authURLOutput{}
			out.Body.AuthorizationURL = u
			return out, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "oauth-callback", Method: http.MethodGet, Path: "/auth/oauth/{provider}/callback", Tags: otag,
		Summary: "Where the provider returns the browser (redirects to the app)", DefaultStatus: http.StatusFound},
		func(ctx context.Context, in *callbackInput) (*redirectOutput, error) {
			return &redirectOutput{Status: http.StatusFound, Location: s.FinishOAuth(ctx, in.Provider, in.Code, in.State, in.Error)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "list-identities", Method: http.MethodGet, Path: "/auth/identities", Tags: otag,
		Summary: "My linked providers", Security: bearer},
		func(ctx context.Context, _ *struct{}) (*identitiesOutput, error) {
			list, err := s.Identities(ctx)
			if err != nil {
				return nil, err
			}
			out := &identitiesOutput{}
			out.Body.Identities = make([]identityOut, len(list))
			for i, x := range list {
				out.Body.Identities[i] = identityOut{ID: x.ID, Provider: x.Provider, Email: x.Email, CreatedAt: x.CreatedAt, LastLoginAt: x.LastLoginAt}
			}
			return out, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "unlink-identity", Method: http.MethodDelete, Path: "/auth/identities/{id}", Tags: otag,
		Summary: "Unlink a provider (not the last way to sign in)", DefaultStatus: http.StatusNoContent, Security: bearer},
		func(ctx context.Context, in *idPath) (*struct{}, error) { return nil, s.UnlinkIdentity(ctx, in.ID) })

}
