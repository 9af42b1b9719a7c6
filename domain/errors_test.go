package domain_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/domain"
)

func TestErrorCodeOf(t *testing.T) {
	cause := errors.New("connection refused")
	tests := []struct {
		name string
		err  error
		want domain.ErrorCode
	}{
		{"nil", nil, ""},
		{"plain error", errors.New("boom"), domain.CodeInternal},
		{"focal error", domain.Errorf(domain.CodeSessionNotFound, "session %s not found", "s1"), domain.CodeSessionNotFound},
		{"wrapped focal error", fmt.Errorf("load session: %w", domain.Errorf(domain.CodeSessionBusy, "busy")), domain.CodeSessionBusy},
		{"doubly wrapped", fmt.Errorf("turn: %w", fmt.Errorf("store: %w", domain.WrapError(domain.CodeStoreUnavailable, cause, "try later"))), domain.CodeStoreUnavailable},
		{"joined", errors.Join(errors.New("x"), domain.InvalidFields()), domain.CodeInvalidRequest},
		{"plain error wrapping nothing focal", fmt.Errorf("ctx: %w", cause), domain.CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, domain.ErrorCodeOf(tt.err))
		})
	}
}

func TestIsCode(t *testing.T) {
	err := fmt.Errorf("wrap: %w", domain.Errorf(domain.CodeTimeout, "slow"))
	require.True(t, domain.IsCode(err, domain.CodeTimeout))
	require.False(t, domain.IsCode(err, domain.CodeInternal))
	require.False(t, domain.IsCode(errors.New("plain"), domain.CodeInternal), "a plain error carries no code")
	require.False(t, domain.IsCode(nil, domain.CodeTimeout))
}

func TestErrorMessageAndCause(t *testing.T) {
	cause := errors.New("dial tcp: refused")
	wrapped := domain.WrapError(domain.CodeStoreUnavailable, cause, "storage is unavailable")
	require.Equal(t, "STORE_UNAVAILABLE: storage is unavailable: dial tcp: refused", wrapped.Error())
	require.ErrorIs(t, wrapped, cause)
	require.ErrorIs(t, fmt.Errorf("x: %w", wrapped), cause)

	plain := domain.Errorf(domain.CodeAgentNotFound, "agent %q not found", "a1")
	require.Equal(t, `AGENT_NOT_FOUND: agent "a1" not found`, plain.Error())
	require.NoError(t, plain.Unwrap())

	var target *domain.Error
	require.ErrorAs(t, fmt.Errorf("x: %w", plain), &target)
	require.Equal(t, `agent "a1" not found`, target.Message)
}

func TestInvalidFields(t *testing.T) {
	err := domain.InvalidFields(domain.FieldError{Field: "rules[0].id", Message: "duplicate id r"})
	require.Equal(t, domain.CodeInvalidRequest, err.Code)
	require.Equal(t, []domain.FieldError{{Field: "rules[0].id", Message: "duplicate id r"}}, err.Details)
	require.Equal(t, time.Duration(0), err.RetryAfter)
	require.Equal(t, "INVALID_REQUEST", domain.CodeInvalidRequest.String())
}
