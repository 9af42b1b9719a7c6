package sqlkit

import (
	"encoding/json"

	"focal/domain"
	"focal/ports"
)

// EncodeModels is the models column of a tenant's key.
func EncodeModels(models []string) (string, error) {
	b, err := json.Marshal(models)
	if err != nil {
		return "", domain.WrapError(domain.CodeInternal, err, "the key's models cannot be stored")
	}
	return string(b), nil
}

// DecodeModels reads the models column of a tenant's key.
func DecodeModels(col string) ([]string, error) {
	var models []string
	if err := json.Unmarshal([]byte(col), &models); err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "a stored key cannot be read")
	}
	return models, nil
}

// NoKey is NOT_FOUND for a tenant without a key of provider.
func NoKey(provider string) error {
	return domain.Errorf(domain.CodeNotFound, "no %s key is set", provider)
}

// KeyChanged is VERSION_CONFLICT for a re-seal of a key put or re-sealed
// since it was read.
func KeyChanged(provider string) error {
	return domain.Errorf(domain.CodeVersionConflict, "the %s key changed since it was read", provider)
}

// NoBudget is NOT_FOUND for a tenant without a budget.
func NoBudget() error { return domain.Errorf(domain.CodeNotFound, "no budget is set") }

// PageOf cuts rows (read with one more than the page's limit) into a page
// whose next cursor is the last item's.
func PageOf[T any](rows []T, limit int, cursor func(T) string) ports.Page[T] {
	if rows == nil {
		rows = []T{}
	}
	if len(rows) <= limit {
		return ports.Page[T]{Items: rows}
	}
	rows = rows[:limit]
	return ports.Page[T]{Items: rows, NextCursor: cursor(rows[limit-1])}
}
