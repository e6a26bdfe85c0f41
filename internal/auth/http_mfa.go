package auth

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/pulse-run/pulse/internal/platform/httpx"
)

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

func registerMFAOps(v1 *httpx.API, s *Service) {
	mtag := []string{"MFA"}
	httpx.Register(v1, huma.Operation{OperationID: "enroll-totp", Metadata: httpx.OneTimeSecret(), Method: http.MethodPost, Path: "/auth/mfa/totp", Tags: mtag,
		Summary: "Start TOTP enrolment", Description: "Returns the secret and an otpauth:// URI for an authenticator app; confirm with a code to enable it.", Security: bearer},
		func(ctx context.Context, _ *struct{}) (*enrollOutput, error) {
			e, err := s.EnrollTOTP(ctx)
			if err != nil {
				return nil, err
			}
			return &enrollOutput{Body: *e}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "confirm-totp", Metadata: httpx.OneTimeSecret(), Method: http.MethodPost, Path: "/auth/mfa/totp/confirm", Tags: mtag,
		Summary: "Enable TOTP with a first code; returns recovery codes once", Security: bearer},
		func(ctx context.Context, in *codeInput) (*recoveryOutput, error) {
			codes, err := s.ConfirmTOTP(ctx, in.Body.Code)
			if err != nil {
				return nil, err
			}
			out := &recoveryOutput{}
			out.Body.RecoveryCodes = httpx.NonNil(codes)
			return out, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "disable-totp", Method: http.MethodDelete, Path: "/auth/mfa/totp", Tags: mtag,
		Summary: "Disable TOTP (needs a current or recovery code)", DefaultStatus: http.StatusNoContent, Security: bearer},
		func(ctx context.Context, in *codeInput) (*struct{}, error) {
			return nil, s.DisableTOTP(ctx, in.Body.Code)
		})
	httpx.Register(v1, huma.Operation{OperationID: "verify-mfa", Metadata: httpx.OneTimeSecret(), Method: http.MethodPost, Path: "/auth/mfa/verify", Tags: mtag,
		Summary:     "Finish a sign-in that answered mfa_required",
		Description: "When an account has MFA, the password grant answers 401 with error mfa_required and an mfa_token. Send it here with a TOTP or recovery code to get tokens (aal2)."},
		func(ctx context.Context, in *mfaVerifyInput) (*tokenOutput, error) {
			t, err := s.VerifyMFA(ctx, in.Body.MFAToken, in.Body.Code)
			if err != nil {
				return nil, err
			}
			return &tokenOutput{CacheControl: "no-store", Pragma: "no-cache", Body: *t}, nil
		})
}
