package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

// What the server answers decides what the caller is told: a server that
// cannot serve now, or a transaction rolled back by a conflict, is
// STORE_UNAVAILABLE (the application reads a commit back, a client may
// retry); anything else it answered is INTERNAL_ERROR; a domain error
// passes through as it is.
func TestFailMapsServerErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want domain.ErrorCode
	}{
		{"connection failure", &pgconn.PgError{Code: "08006"}, domain.CodeStoreUnavailable},
		{"too many connections", &pgconn.PgError{Code: "53300"}, domain.CodeStoreUnavailable},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, domain.CodeStoreUnavailable},
		{"statement timeout", &pgconn.PgError{Code: "57014"}, domain.CodeStoreUnavailable},
		{"I/O error", &pgconn.PgError{Code: "58030"}, domain.CodeStoreUnavailable},
		{"serialization failure", &pgconn.PgError{Code: "40001"}, domain.CodeStoreUnavailable},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, domain.CodeStoreUnavailable},
		{"lock not available", &pgconn.PgError{Code: "55P03"}, domain.CodeStoreUnavailable},
		{"connection lost", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), domain.CodeStoreUnavailable},
		{"deadline", context.DeadlineExceeded, domain.CodeStoreUnavailable},
		{"unexpected unique violation", &pgconn.PgError{Code: "23505"}, domain.CodeInternal},
		{"undefined table", &pgconn.PgError{Code: "42P01"}, domain.CodeInternal},
		{"other plain error", errors.New("boom"), domain.CodeInternal},
		{"domain error", domain.Errorf(domain.CodeSessionBusy, "busy"), domain.CodeSessionBusy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := fail(tc.err, "test")
			require.True(t, domain.IsCode(err, tc.want), "%v", err)
		})
	}
}

// A statement is sent again only when that is safe: after a conflict that
// rolled it back, or (retryIdempotent) a lost connection, the server's
// FATAL ending the session included; never after another answer of the
// server, a statement timeout included.
func TestRetrySendsAgainOnlyWhatIsSafe(t *testing.T) {
	lost := fmt.Errorf("read: %w", io.ErrUnexpectedEOF)
	for _, tc := range []struct {
		name              string
		err               error
		retry, idempotent int
	}{
		{"serialization failure", &pgconn.PgError{Code: "40001"}, retries, retries},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, retries, retries},
		{"lost connection", lost, 1, retries},
		{"statement timeout", &pgconn.PgError{Code: "57014"}, 1, 1},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, 1, 1},
		{"session ended by the server", &pgconn.PgError{Severity: "FATAL", Code: "57P01"}, 1, retries},
		{"idle session timeout", &pgconn.PgError{Severity: "FATAL", Code: "57P05"}, 1, retries},
		{"unique violation", &pgconn.PgError{Code: "23505"}, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []struct {
				run  func(context.Context, func() error) error
				want int
			}{{retry, tc.retry}, {retryIdempotent, tc.idempotent}} {
				sends := 0
				err := r.run(t.Context(), func() error { sends++; return tc.err })
				require.ErrorIs(t, err, tc.err)
				require.Equal(t, r.want, sends)
			}
		})
	}
}
