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
	"github.com/pulse-run/pulse/internal/platform/audit"
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
	GrantType    string `json:"grant_type" enum:"password,refresh_token"`
	Username     string `json:"username,omitempty" doc:"The account email (password grant)"`
	Password     string `json:"password,omitempty" doc:"password grant"`
	RefreshToken string `json:"refresh_token,omitempty" doc:"refresh_token grant"`
	Code         string `json:"code,omitempty" doc:"authorization_code grant: the code an OAuth sign-in sent back to the app"`
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

type enrollOutput struct{ Body TOTPEnrollment }

type codeInput struct {
	Body struct {
		Code string `json:"code" maxLength:"32" doc:"a 6-digit TOTP code or a recovery code"`
	}
}

type recoveryOutput struct {
	Body struct {
		RecoveryCodes []string `json:"recovery_codes" doc:"single-use codes for when the authenticator is lost; shown once"`
	}
}

type mfaVerifyInput struct {
	Body struct {
		MFAToken string `json:"mfa_token" maxLength:"200"`
		Code     string `json:"code" maxLength:"32"`
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

type jwksOutput struct {
	CacheControl string `header:"Cache-Control"`
	Body         struct {
		Keys []JWK `json:"keys"`
	}
}

// Register adds auth's operations: root is for /.well-known, v1 for the rest.
func Register(root huma.API, v1 *httpx.API, s *Service) {
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
	httpx.Register(v1, huma.Operation{OperationID: "token", Method: http.MethodPost, Path: "/auth/token", Tags: tag,
		Summary:     "Get tokens (OAuth2 token endpoint)",
		Description: "grant_type=password (username is the email), refresh_token, or authorization_code (the one-time code an OAuth sign-in sends to the app). Form-encoded as OAuth2 clients send it, or JSON. A refresh token works once; reusing one signs the session out.",
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
				t, err = s.ExchangeLoginCode(ctx, req.Code)
			default:
				return nil, apperr.New(apperr.BadRequest, "grant_type must be password, refresh_token or authorization_code")
			}
			if err != nil {
				return nil, err
			}
			return &tokenOutput{CacheControl: "no-store", Pragma: "no-cache", Body: *t}, nil
		})

	tokenSchema := huma.SchemaFromType(v1.OpenAPI().Components.Schemas, reflect.TypeOf(tokenRequest{}))
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

	mtag := []string{"MFA"}
	httpx.Register(v1, huma.Operation{OperationID: "enroll-totp", Method: http.MethodPost, Path: "/auth/mfa/totp", Tags: mtag,
		Summary: "Start TOTP enrolment", Description: "Returns the secret and an otpauth:// URI for an authenticator app; confirm with a code to enable it.", Security: bearer},
		func(ctx context.Context, _ *struct{}) (*enrollOutput, error) {
			e, err := s.EnrollTOTP(ctx)
			if err != nil {
				return nil, err
			}
			return &enrollOutput{Body: *e}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "confirm-totp", Method: http.MethodPost, Path: "/auth/mfa/totp/confirm", Tags: mtag,
		Summary: "Enable TOTP with a first code; returns recovery codes once", Security: bearer},
		func(ctx context.Context, in *codeInput) (*recoveryOutput, error) {
			codes, err := s.ConfirmTOTP(ctx, in.Body.Code)
			if err != nil {
				return nil, err
			}
			out := &recoveryOutput{}
			out.Body.RecoveryCodes = codes
			return out, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "disable-totp", Method: http.MethodDelete, Path: "/auth/mfa/totp", Tags: mtag,
		Summary: "Disable TOTP (needs a current or recovery code)", DefaultStatus: http.StatusNoContent, Security: bearer},
		func(ctx context.Context, in *codeInput) (*struct{}, error) {
			return nil, s.DisableTOTP(ctx, in.Body.Code)
		})
	httpx.Register(v1, huma.Operation{OperationID: "verify-mfa", Method: http.MethodPost, Path: "/auth/mfa/verify", Tags: mtag,
		Summary:     "Finish a sign-in that answered mfa_required",
		Description: "When an account has MFA, the password grant answers 401 with error mfa_required and an mfa_token. Send it here with a TOTP or recovery code to get tokens (aal2)."},
		func(ctx context.Context, in *mfaVerifyInput) (*tokenOutput, error) {
			t, err := s.VerifyMFA(ctx, in.Body.MFAToken, in.Body.Code)
			if err != nil {
				return nil, err
			}
			return &tokenOutput{CacheControl: "no-store", Pragma: "no-cache", Body: *t}, nil
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

	ktag := []string{"API keys"}
	httpx.Register(v1, huma.Operation{OperationID: "create-api-key", Method: http.MethodPost, Path: "/api-keys", Tags: ktag,
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

	huma.Register(root, huma.Operation{OperationID: "jwks", Method: http.MethodGet, Path: "/.well-known/jwks.json", Tags: tag,
		Summary: "Public keys that verify access tokens (JWKS)"},
		func(context.Context, *struct{}) (*jwksOutput, error) {
			out := &jwksOutput{CacheControl: "public, max-age=300"}
			out.Body.Keys = s.JWKS()
			return out, nil
		})
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
			RefreshToken: v.Get("refresh_token"), Code: v.Get("code")}
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
