package sqlkit

import "focal/ports"

// TenantItem reads a tenant id of a tenant listing with the cursor after
// it.
func TenantItem(row Row) (string, string, error) {
	var id string
	err := row.Scan(&id)
	return id, ports.TenantCursors.Cursor(id), err
}
