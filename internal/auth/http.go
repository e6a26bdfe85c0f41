package auth

import (
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/httpx"
)

// bearer marks an operation as needing a signed-in user or an API key.
var bearer = []map[string][]string{{"bearer": {}}, {"oauth2": {}}}

// UserOut is an account as the API shows it: never a password hash.
type UserOut struct {
	ID            string    `json:"id"`
	Email         string    `json:"email"`
	EmailVerified bool      `json:"email_verified"`
	Name          string    `json:"name"`
	AvatarURL     string    `json:"avatar_url"`
	Timezone      string    `json:"timezone"`
	Locale        string    `json:"locale"`
	Role          string    `json:"role" enum:"user,admin"`
	Active        bool      `json:"active"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

func userOut(u *User) UserOut {
	return UserOut{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerifiedAt != nil, Name: u.Name, AvatarURL: u.AvatarURL,
		Timezone: u.Timezone, Locale: u.Locale, Role: u.Role, Active: u.Active, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

type userBody struct{ Body UserOut }

type registerInput struct {
	Body struct {
		Email    string `json:"email" maxLength:"254" doc:"Sign-in email address"`
		Password string `json:"password" doc:"At least 10 characters, at most 1,024 bytes"`
		Name     string `json:"name,omitempty" maxLength:"200"`
	}
}

// tokenRequest documents the token endpoint's fields (the body is parsed by
// hand because OAuth2 clients send it form-encoded).
type tokenRequest struct {
	GrantType    string `json:"grant_type" enum:"password,refresh_token,authorization_code"`
	Username     string `json:"username,omitempty" doc:"The account email (password grant)"`
	Password     string `json:"password,omitempty" doc:"password grant"`
	RefreshToken string `json:"refresh_token,omitempty" doc:"refresh_token grant"`
	Code         string `json:"code,omitempty" doc:"authorization_code grant: the code an OAuth sign-in sent back to the app"`
	CodeVerifier string `json:"code_verifier,omitempty" minLength:"43" maxLength:"128" pattern:"^[A-Za-z0-9._~-]+$" doc:"authorization_code grant, PKCE (RFC 7636): the verifier whose S256 challenge the app sent to /auth/oauth/{provider}/authorize. Required if it sent one; refused if it did not."`
}

type tokenInput struct {
	ContentType string `header:"Content-Type"`
	RawBody     []byte
}

type tokenOutput struct {
	CacheControl string `header:"Cache-Control"`
	Pragma       string `header:"Pragma"`
	Body         Tokens
}

type tokenBody struct {
	Body struct {
		Token string `json:"token" maxLength:"200"`
	}
}

type forgotInput struct {
	Body struct {
		Email string `json:"email" maxLength:"254"`
	}
}

type resetInput struct {
	Body struct {
		Token       string `json:"token" maxLength:"200"`
		NewPassword string `json:"new_password"`
	}
}

type sessionOut struct {
	ID          string    `json:"id"`
	Current     bool      `json:"current" doc:"the session making this request"`
	AAL         string    `json:"aal"`
	IP          string    `json:"ip"`
	UserAgent   string    `json:"user_agent"`
	CreatedAt   time.Time `json:"created_at"`
	RefreshedAt time.Time `json:"refreshed_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}

type sessionsOutput struct {
	Body struct {
		Sessions []sessionOut `json:"sessions"`
	}
}

type idPath struct {
	ID string `path:"id" maxLength:"64"`
}

type updateMeInput struct {
	Body struct {
		Name      *string `json:"name,omitempty" maxLength:"200"`
		AvatarURL *string `json:"avatar_url,omitempty" maxLength:"2048"`
		Timezone  *string `json:"timezone,omitempty" maxLength:"64" doc:"IANA zone, e.g. Europe/Paris"`
		Locale    *string `json:"locale,omitempty" maxLength:"35" doc:"BCP 47 tag, e.g. pt-BR"`
	}
}

type passwordInput struct {
	Body struct {
		CurrentPassword string `json:"current_password"`
		NewPassword     string `json:"new_password"`
	}
}

type jwksOutput struct {
	CacheControl string `header:"Cache-Control"`
	Body         struct {
		Keys []JWK `json:"keys"`
	}
}

// Register adds auth's operations: root is for /.well-known, v1 for the rest.
func Register(root huma.API, v1 *httpx.API, s *Service) {
	registerTokenOps(v1, s)
	registerAccountOps(v1, s)
	registerAPIKeyOps(v1, s)
	registerMFAOps(v1, s)
	registerOAuthOps(v1, s)
	registerAdminOps(v1, s)
	tag := []string{"Auth"}
	huma.Register(root, huma.Operation{OperationID: "jwks", Method: http.MethodGet, Path: "/.well-known/jwks.json", Tags: tag, Security: httpx.Public,
		Summary: "Public keys that verify access tokens (JWKS)"},
		func(context.Context, *struct{}) (*jwksOutput, error) {
			out := &jwksOutput{CacheControl: "public, max-age=300"}
			out.Body.Keys = httpx.NonNil(s.JWKS())
			return out, nil
		})
}

// registerTokenOps: registration, the token endpoint, email flows, sessions.
func registerTokenOps(v1 *httpx.API, s *Service) {
	tag := []string{"Auth"}
	httpx.Register(v1, huma.Operation{OperationID: "register", Method: http.MethodPost, Path: "/auth/register", Tags: tag,
		Summary: "Create an account", DefaultStatus: http.StatusCreated},
		func(ctx context.Context, in *registerInput) (*userBody, error) {
			u, err := s.Register(ctx, RegisterParams{Email: in.Body.Email, Password: in.Body.Password, Name: in.Body.Name})
			if err != nil {
				return nil, err
			}
			return &userBody{Body: userOut(u)}, nil
		})

	// The body is parsed by hand (OAuth2 clients send forms, which huma
	// cannot validate), so the operation has no body schema; the schema is
	// added to the OpenAPI document afterwards for clients and the docs.
	form := &huma.MediaType{}
	json := &huma.MediaType{}
	httpx.Register(v1, huma.Operation{OperationID: "token", Metadata: httpx.OneTimeSecret(), Method: http.MethodPost, Path: "/auth/token", Tags: tag,
		Summary:     "Get tokens (OAuth2 token endpoint)",
		Description: "grant_type=password (username is the email), refresh_token, or authorization_code (the one-time code an OAuth sign-in sends to the app, with the app's PKCE code_verifier if it sent a code_challenge; a wrong, missing or unexpected verifier is refused with 400 and error invalid_grant, and uses the code up). Form-encoded as OAuth2 clients send it, or JSON. A refresh token works once; reusing one signs the session out.",
		RequestBody: &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
			"application/x-www-form-urlencoded": form, "application/json": json,
		}}},
		func(ctx context.Context, in *tokenInput) (*tokenOutput, error) {
			req, err := parseTokenRequest(in.ContentType, in.RawBody)
			if err != nil {
				return nil, err
			}
			var t *Tokens
			switch req.GrantType {
			case "password":
				t, err = s.PasswordLogin(ctx, req.Username, req.Password)
			case "refresh_token":
				t, err = s.Refresh(ctx, req.RefreshToken)
			case "authorization_code":
				t, err = s.ExchangeLoginCode(ctx, LoginCodeExchange{Code: req.Code, CodeVerifier: req.CodeVerifier})
			default:
				return nil, apperr.New(apperr.BadRequest, "grant_type must be password, refresh_token or authorization_code")
			}
			if err != nil {
				return nil, err
			}
			return &tokenOutput{CacheControl: "no-store", Pragma: "no-cache", Body: *t}, nil
		})

	tokenSchema := v1.OpenAPI().Components.Schemas.Schema(reflect.TypeOf(tokenRequest{}), true, "")
	form.Schema, json.Schema = tokenSchema, tokenSchema

	httpx.Register(v1, huma.Operation{OperationID: "logout", Method: http.MethodPost, Path: "/auth/logout", Tags: tag,
		Summary: "Sign out this session", DefaultStatus: http.StatusNoContent, Security: bearer},
		func(ctx context.Context, _ *struct{}) (*struct{}, error) { return nil, s.Logout(ctx) })

	httpx.Register(v1, huma.Operation{OperationID: "send-verification", Method: http.MethodPost, Path: "/auth/verify/send", Tags: tag,
		Summary: "Email me a new verification link", DefaultStatus: http.StatusAccepted, Security: bearer},
		func(ctx context.Context, _ *struct{}) (*struct{}, error) { return nil, s.SendVerification(ctx) })
	httpx.Register(v1, huma.Operation{OperationID: "verify-email", Method: http.MethodPost, Path: "/auth/verify", Tags: tag,
		Summary: "Confirm an email address with the emailed token", DefaultStatus: http.StatusNoContent},
		func(ctx context.Context, in *tokenBody) (*struct{}, error) {
			return nil, s.VerifyEmail(ctx, in.Body.Token)
		})
	httpx.Register(v1, huma.Operation{OperationID: "forgot-password", Method: http.MethodPost, Path: "/auth/password/forgot", Tags: tag,
		Summary: "Email a password reset link", Description: "Answers 202 whether or not the account exists.", DefaultStatus: http.StatusAccepted},
		func(ctx context.Context, in *forgotInput) (*struct{}, error) {
			return nil, s.ForgotPassword(ctx, in.Body.Email)
		})
	httpx.Register(v1, huma.Operation{OperationID: "reset-password", Method: http.MethodPost, Path: "/auth/password/reset", Tags: tag,
		Summary: "Set a new password with the emailed token (signs out every session)", DefaultStatus: http.StatusNoContent},
		func(ctx context.Context, in *resetInput) (*struct{}, error) {
			return nil, s.ResetPassword(ctx, in.Body.Token, in.Body.NewPassword)
		})

	httpx.Register(v1, huma.Operation{OperationID: "list-sessions", Method: http.MethodGet, Path: "/auth/sessions", Tags: tag,
		Summary: "List my signed-in sessions", Security: bearer},
		func(ctx context.Context, _ *struct{}) (*sessionsOutput, error) {
			list, err := s.Sessions(ctx)
			if err != nil {
				return nil, err
			}
			out := &sessionsOutput{}
			out.Body.Sessions = make([]sessionOut, len(list))
			for i, x := range list {
				out.Body.Sessions[i] = sessionOut{ID: x.ID, Current: x.Current, AAL: x.AAL, IP: x.IP, UserAgent: x.UserAgent,
					CreatedAt: x.CreatedAt, RefreshedAt: x.RefreshedAt, ExpiresAt: x.ExpiresAt}
			}
			return out, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "revoke-session", Method: http.MethodDelete, Path: "/auth/sessions/{id}", Tags: tag,
		Summary: "Sign out one of my sessions", DefaultStatus: http.StatusNoContent, Security: bearer},
		func(ctx context.Context, in *idPath) (*struct{}, error) { return nil, s.RevokeSession(ctx, in.ID) })
	httpx.Register(v1, huma.Operation{OperationID: "revoke-all-sessions", Method: http.MethodDelete, Path: "/auth/sessions", Tags: tag,
		Summary: "Sign out everywhere", DefaultStatus: http.StatusNoContent, Security: bearer},
		func(ctx context.Context, _ *struct{}) (*struct{}, error) { return nil, s.RevokeAllSessions(ctx) })

}

func parseTokenRequest(contentType string, body []byte) (tokenRequest, error) {
	var req tokenRequest
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "application/x-www-form-urlencoded":
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return req, apperr.New(apperr.BadRequest, "the form body cannot be parsed")
		}
		req = tokenRequest{GrantType: v.Get("grant_type"), Username: v.Get("username"), Password: v.Get("password"),
			RefreshToken: v.Get("refresh_token"), Code: v.Get("code"), CodeVerifier: v.Get("code_verifier")}
	case "application/json", "":
		if err := json.Unmarshal(body, &req); err != nil {
			return req, apperr.New(apperr.BadRequest, "the request body is not valid JSON")
		}
	default:
		return req, apperr.New(apperr.UnsupportedMedia, "send application/x-www-form-urlencoded or application/json")
	}
	return req, nil
}

// Middleware authenticates a bearer credential when one is sent. A bad one
// is refused at once; none at all lets the operation decide (public
// operations exist).
func Middleware(api huma.API, s *Service) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		h := ctx.Header("Authorization")
		if h == "" {
			next(ctx)
			return
		}
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			ctx.SetHeader("WWW-Authenticate", `Bearer realm="pulse"`)
			_ = huma.WriteErr(api, ctx, http.StatusUnauthorized, "the Authorization header must be: Bearer <token>")
			return
		}
		p, err := s.Authenticate(ctx.Context(), strings.TrimSpace(token))
		if err != nil {
			// An apperr keeps its own status; anything else (the database
			// is down) is a 500, never a misleading 401.
			status := http.StatusInternalServerError
			if apperr.Is(err, apperr.Unauthenticated) {
				status = http.StatusUnauthorized
				ctx.SetHeader("WWW-Authenticate", `Bearer realm="pulse", error="invalid_token"`)
			}
			_ = huma.WriteErr(api, ctx, status, "", err)
			return
		}
		next(huma.WithContext(ctx, authn.With(ctx.Context(), p)))
	}
}
