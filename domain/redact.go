package domain

import (
	"net/url"
	"regexp"
	"strings"
)

// Redacted replaces a secret in a URL shown to people or written to logs.
const Redacted = "REDACTED"

// secretParams are fragments of query parameter names that carry
// credentials: api_key, access_token, X-Amz-Signature, sig, password, ...
var secretParams = []string{"key", "token", "secret", "sig", "pass", "pwd", "auth", "cred", "session", "jwt", "bearer"}

// RedactURL returns raw with its credentials replaced by Redacted: the
// password of its user info and the values of query parameters whose names
// suggest a secret. Other parts are kept, so the URL still says where it
// points. A value that does not parse as a URL has any user info cut.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return userInfo.ReplaceAllString(raw, "://"+Redacted+"@")
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), Redacted)
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		changed := false
		for name, values := range q {
			if secretParam(name) {
				for i := range values {
					values[i] = Redacted
				}
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}

func secretParam(name string) bool {
	name = strings.ToLower(name)
	for _, s := range secretParams {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// URLOrigin returns only the scheme and host of raw ("https://crm.example.com"),
// for readers who may know where a URL points but none of its path, query
// or credentials, any of which can hold a secret.
func URLOrigin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

var (
	userInfo  = regexp.MustCompile(`://[^/@\s]*@`)
	urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]+`)
)

// RedactText redacts every URL found in free text, such as an error
// message that quotes the URL it failed on.
func RedactText(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlInText.ReplaceAllStringFunc(s, RedactURL)
}
