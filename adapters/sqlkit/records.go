package sqlkit

import (
	"encoding/json"
	"time"

	"focal/domain"
	"focal/ports"
)

// KeyColumns are the tenant_model_keys columns ScanKey reads, in its order.
const KeyColumns = `tenant_id, provider, key_id, nonce, ciphertext, hint, base_url, models, set_ns, revision`

// ScanKey reads a tenant's model key selected with KeyColumns.
func ScanKey(row Row) (ports.TenantModelKey, error) {
	var k ports.TenantModelKey
	var models string
	var setNS int64
	err := row.Scan(&k.TenantID, &k.Provider, &k.Secret.KeyID, &k.Secret.Nonce, &k.Secret.Ciphertext, &k.Hint, &k.BaseURL,
		&models, &setNS, &k.Revision)
	if err != nil {
		return k, err
	}
	k.SetAt = time.Unix(0, setNS).UTC()
	k.Models, err = DecodeModels(models)
	return k, err
}

// NotNull is b, or an empty slice for nil: the value of a NOT NULL bytes
// column.
func NotNull(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// ScanBudget reads a tenant_budgets row (tenant_id, monthly_tokens, month,
// spent_before, set_ns); the driver's no-rows error comes back as it is.
func ScanBudget(row Row) (*ports.TenantBudget, error) {
	var b ports.TenantBudget
	var setNS int64
	if err := row.Scan(&b.TenantID, &b.MonthlyTokens, &b.Month, &b.SpentBefore, &setNS); err != nil {
		return nil, err
	}
	b.SetAt = time.Unix(0, setNS).UTC()
	return &b, nil
}

// IdempotencyColumns are the idempotency_keys columns ScanIdempotency
// reads, in its order.
const IdempotencyColumns = `tenant_id, key, fingerprint, owner, request, turn_id, done, status, header, body, held_ns, expires_ns`

// ScanIdempotency reads an idempotency record selected with
// IdempotencyColumns; the driver's no-rows error comes back as it is.
func ScanIdempotency(row Row) (*ports.IdempotencyRecord, error) {
	var r ports.IdempotencyRecord
	var header *string
	var held, expires int64
	if err := row.Scan(&r.TenantID, &r.Key, &r.Fingerprint, &r.Owner, &r.Request, &r.TurnID, &r.Done, &r.Status, &header, &r.Body,
		&held, &expires); err != nil {
		return nil, err
	}
	r.HeldUntil, r.ExpiresAt = time.Unix(0, held), time.Unix(0, expires)
	if header != nil {
		if err := json.Unmarshal([]byte(*header), &r.Header); err != nil {
			return nil, domain.WrapError(domain.CodeInternal, err, "a stored idempotency record cannot be read")
		}
	}
	return &r, nil
}

// CheckClaim refuses an idempotency claim without a key or an owner.
func CheckClaim(rec ports.IdempotencyRecord) error {
	if rec.Key == "" || rec.Owner == "" {
		return domain.InvalidFields(domain.FieldError{Field: "idempotency_key", Message: "a key and an owner are required"})
	}
	return nil
}

// CheckTakeOver refuses a takeover without a key or either owner.
func CheckTakeOver(rec ports.IdempotencyRecord, from string) error {
	if rec.Key == "" || rec.Owner == "" || from == "" {
		return domain.InvalidFields(domain.FieldError{Field: "idempotency_key", Message: "a key and both owners are required"})
	}
	return nil
}

// Completion is the header and body columns of a completed idempotency
// record: the header as JSON (NULL for none), the body never NULL.
func Completion(header map[string]string, body []byte) (headerCol any, bodyCol []byte, err error) {
	if header != nil {
		h, err := json.Marshal(header)
		if err != nil {
			return nil, nil, domain.WrapError(domain.CodeInternal, err, "response header cannot be stored")
		}
		headerCol = string(h)
	}
	return headerCol, NotNull(body), nil
}
