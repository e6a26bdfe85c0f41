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

// BindingCookies reads the binding cookie under either name (which one
// the server sets depends on whether its public URL is https).
type BindingCookies struct {
	BindingSecure string `cookie:"__Host-pulse_oauth" maxLength:"100" doc:"binds the sign-in to this browser (set by authorize or link)"`
	BindingPlain  string `cookie:"pulse_oauth" maxLength:"100" doc:"the same, when the public URL is plain http"`
}

func (c BindingCookies) value(s *Service) string {
	if s.BindingCookieName() == BindingCookieSecure {
		return c.BindingSecure
	}
	return c.BindingPlain
}

type authorizeInput struct {
	Provider   string `path:"provider" maxLength:"32"`
	RedirectTo string `query:"redirect_to" maxLength:"1000" doc:"a path on the app to return to, e.g. /dashboard"`
	// The app's own PKCE (RFC 7636), binding the login code to it.
	CodeChallenge       string `query:"code_challenge" maxLength:"128" doc:"PKCE: BASE64URL(SHA-256(code_verifier)), unpadded (43 characters). Recommended: the login code is then exchanged only with the code_verifier, so a code pushed into the app by someone else cannot sign it in."`
	CodeChallengeMethod string `query:"code_challenge_method" maxLength:"10" doc:"PKCE: S256 (the only method accepted), required with code_challenge"`
	BindingCookies
}

type linkInput struct {
	Provider string `path:"provider" maxLength:"32"`
	BindingCookies
	Body struct {
		RedirectTo string `json:"redirect_to,omitempty" maxLength:"1000"`
	}
}

type callbackInput struct {
	Provider         string `path:"provider" maxLength:"32"`
	Code             string `query:"code" maxLength:"2000"`
	State            string `query:"state" maxLength:"200"`
	Error            string `query:"error" maxLength:"200"`
	ErrorDescription string `query:"error_description" maxLength:"1000"`
	Issuer           string `query:"iss" maxLength:"500" doc:"RFC 9207: the issuer of this response"`
	BindingCookies
}

type redirectOutput struct {
	Status    int
	Location  string `header:"Location"`
	SetCookie string `header:"Set-Cookie"`
}

type authURLOutput struct {
	SetCookie string `header:"Set-Cookie"`
	Body      struct {
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
			out.Body.Providers = httpx.NonNil(s.Providers())
			return out, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "oauth-authorize", Method: http.MethodGet, Path: "/auth/oauth/{provider}/authorize", Tags: otag,
		Summary: "Begin signing in with a provider (redirects to it)",
		Description: "The provider sends the browser back to the callback, which redirects to the app at redirect_to with ?code=… (exchange it at /auth/token with grant_type=authorization_code) or ?error=…. " +
			"Apps should use PKCE (RFC 7636): send code_challenge=BASE64URL(SHA-256(verifier)) with code_challenge_method=S256 here, keep the verifier, and send it as code_verifier with the exchange. " +
			"The login code is then bound to the app that started the sign-in: without the verifier it is refused (400, error invalid_grant). " +
			"Without a challenge the code is a bearer secret: whoever exchanges it first is signed in.",
		DefaultStatus: http.StatusFound},
		func(ctx context.Context, in *authorizeInput) (*redirectOutput, error) {
			st, err := s.StartOAuth(ctx, StartOAuthParams{Provider: in.Provider, RedirectTo: in.RedirectTo, Binding: in.value(s),
				CodeChallenge: in.CodeChallenge, CodeChallengeMethod: in.CodeChallengeMethod})
			if err != nil {
				return nil, err
			}
			return &redirectOutput{Status: http.StatusFound, Location: st.URL, SetCookie: st.Cookie.String()}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "oauth-link", Method: http.MethodPost, Path: "/auth/oauth/{provider}/link", Tags: otag,
		Summary:     "Begin linking a provider to my account",
		Description: "Returns the URL to send the browser to, and sets the cookie that binds the flow to this browser: call it from the browser with credentials, and finish in the same browser.",
		Security:    bearer},
		func(ctx context.Context, in *linkInput) (*authURLOutput, error) {
			st, err := s.StartOAuth(ctx, StartOAuthParams{Provider: in.Provider, RedirectTo: in.Body.RedirectTo, Link: true, Binding: in.value(s)})
			if err != nil {
				return nil, err
			}
			out := &authURLOutput{SetCookie: st.Cookie.String()}
			out.Body.AuthorizationURL = st.URL
			return out, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "oauth-callback", Method: http.MethodGet, Path: "/auth/oauth/{provider}/callback", Tags: otag,
		Summary:       "Where the provider returns the browser (redirects to the app)",
		Description:   "Redirects to the app with ?code=… or ?error=…. A callback without the binding cookie of the browser that started the flow is refused (403, error state_not_bound).",
		DefaultStatus: http.StatusFound},
		func(ctx context.Context, in *callbackInput) (*redirectOutput, error) {
			loc, err := s.FinishOAuth(ctx, CallbackParams{Provider: in.Provider, Code: in.Code, State: in.State, Error: in.Error,
				ErrorDescription: in.ErrorDescription, Issuer: in.Issuer, Binding: in.value(s)})
			if err != nil {
				return nil, err
			}
			return &redirectOutput{Status: http.StatusFound, Location: loc}, nil
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
