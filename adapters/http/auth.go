package httpapi

import (
	"cmp"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"
	"hash/maphash"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"

	"focal/domain"
	"focal/ports"
)

// Tiers a token may name; the rate limit follows the tier.
const (
	TierFree       = "free"
	TierPro        = "pro"
	TierEnterprise = "enterprise"
)

// DefaultMaxTTL is the longest token lifetime accepted by default.
const DefaultMaxTTL = 24 * time.Hour

// RoleAdmin may change policy and delete sessions.
const RoleAdmin = "admin"

// Principal is the authenticated caller.
type Principal struct {
	TenantID string
	Subject  string
	Roles    []string
	Tier     string
	// rateKey is the tenant's key in the rate limiter ("tenant:<id>"),
	// made once with the verified token rather than on every request.
	rateKey string
}

// rateLimitKey is the caller's key in the rate limiter.
func (p Principal) rateLimitKey() string {
	if p.rateKey != "" {
		return p.rateKey
	}
	return "tenant:" + p.TenantID
}

// HasRole reports whether the caller holds role.
func (p Principal) HasRole(role string) bool { return slices.Contains(p.Roles, role) }

// AuthConfig says how bearer tokens are verified.
type AuthConfig struct {
	// Secret verifies HS256 tokens; empty disables HS256.
	Secret string `env:"JWT_SECRET" yaml:"secret"`
	// PublicKeyFile is a PEM RSA or EC public key verifying RS256 or ES256
	// tokens; empty disables them.
	PublicKeyFile string `env:"JWT_PUBLIC_KEY_FILE" yaml:"public_key_file"`
	// Issuer, when set, must equal the token's iss.
	Issuer string `env:"JWT_ISSUER" yaml:"issuer"`
	// Audience, when set, must be among the token's aud.
	Audience string `env:"JWT_AUDIENCE" yaml:"audience"`
	// Leeway tolerates clock skew on exp and nbf.
	Leeway time.Duration `env:"JWT_LEEWAY" envDefault:"5s" yaml:"leeway"`
	// MaxTTL is the longest lifetime a token may have: exp - iat, or
	// exp - now for a token without iat. A leaked token with a far exp is
	// refused rather than good for years. 0 means DefaultMaxTTL.
	MaxTTL time.Duration `env:"JWT_MAX_TTL" envDefault:"24h" yaml:"max_ttl"`
}

// Validate checks that at least one key is configured.
func (c AuthConfig) Validate() error {
	if c.Secret == "" && c.PublicKeyFile == "" {
		return errors.New("FOCAL_JWT_SECRET or FOCAL_JWT_PUBLIC_KEY_FILE must be set")
	}
	if c.Secret != "" && len(c.Secret) < 32 {
		return errors.New("FOCAL_JWT_SECRET must be at least 32 bytes")
	}
	if c.Leeway < 0 || c.Leeway > 5*time.Minute {
		return errors.New("FOCAL_JWT_LEEWAY must be 0..5m")
	}
	if c.MaxTTL != 0 && (c.MaxTTL < time.Minute || c.MaxTTL > 366*24*time.Hour) {
		return errors.New("FOCAL_JWT_MAX_TTL must be 1m..8784h")
	}
	return nil
}

// Authenticator verifies bearer tokens.
type Authenticator struct {
	secret  []byte
	rsaKey  *rsa.PublicKey
	ecKey   *ecdsa.PublicKey
	parser  *jwt.Parser
	methods []string
	leeway  time.Duration
	maxTTL  time.Duration
	clock   ports.Clock
	// verified remembers tokens already checked, until they expire: a
	// client sends the same token with every request, and verifying its
	// signature each time was a tenth of a turn's CPU.
	verified *lru.Cache[string, *verifiedToken]
	// recent holds tokens of verified by their hash, one a slot, the one
	// checked last there: a request whose token is found in its slot
	// takes no lock (verified's lock is every request's, and its lookup
	// moves the token to the front, a write).
	recent     [recentTokens]atomic.Pointer[recentToken]
	recentSeed maphash.Seed
}

// recentTokens is how many slots Authenticator.recent has.
const recentTokens = 256

// recentToken is a raw token verified, and what verifying it gave.
type recentToken struct {
	raw string
	v   *verifiedToken
}

// verifiedToken is a checked token's caller and validity window; never
// changed once cached, so requests share its principal.
type verifiedToken struct {
	principal Principal
	// from and until are when the token is valid, its nbf and exp with
	// the leeway (until excluded).
	from, until time.Time
}

// verifiedTokens bounds the cache of checked tokens.
const verifiedTokens = 10_000

type tokenClaims struct {
	TenantID string   `json:"tenant_id"`
	Roles    []string `json:"roles,omitempty"`
	Tier     string   `json:"tier,omitempty"`
	jwt.RegisteredClaims
}

// NewAuthenticator builds an authenticator from cfg, reading the public key
// file if one is named. Tokens are checked against clock's time.
func NewAuthenticator(cfg AuthConfig, clock ports.Clock) (*Authenticator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if clock == nil {
		return nil, errors.New("authenticator: a clock is required")
	}
	cache, err := lru.New[string, *verifiedToken](verifiedTokens)
	if err != nil {
		return nil, err
	}
	a := &Authenticator{leeway: cfg.Leeway, maxTTL: cmp.Or(cfg.MaxTTL, DefaultMaxTTL), clock: clock, verified: cache,
		recentSeed: maphash.MakeSeed()}
	if cfg.Secret != "" {
		a.secret = []byte(cfg.Secret)
		a.methods = append(a.methods, jwt.SigningMethodHS256.Alg())
	}
	if cfg.PublicKeyFile != "" {
		pem, err := os.ReadFile(cfg.PublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("read JWT public key: %w", err)
		}
		if k, err := jwt.ParseRSAPublicKeyFromPEM(pem); err == nil {
			a.rsaKey = k
			a.methods = append(a.methods, jwt.SigningMethodRS256.Alg())
		} else if k, err := jwt.ParseECPublicKeyFromPEM(pem); err == nil {
			a.ecKey = k
			a.methods = append(a.methods, jwt.SigningMethodES256.Alg())
		} else {
			return nil, errors.New("JWT public key file holds neither an RSA nor an EC public key")
		}
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(a.methods), jwt.WithExpirationRequired(), jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(clock.Now)}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	a.parser = jwt.NewParser(opts...)
	return a, nil
}

// errUnauthenticated is what every failed check looks like to the client:
// the reason goes to the log line's cause, never to the response.
func errUnauthenticated(cause error) error {
	return domain.WrapError(domain.CodeUnauthenticated, cause, "missing or invalid bearer token")
}

// Authenticate verifies the Authorization header value and returns the caller.
func (a *Authenticator) Authenticate(header string) (Principal, error) {
	p, err := a.verify(header)
	if err != nil {
		return Principal{}, err
	}
	return *p, nil
}

// verify is Authenticate returning the cached token's principal itself,
// which must not be changed: a request keeps a pointer, not a copy.
func (a *Authenticator) verify(header string) (*Principal, error) {
	scheme, raw, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		return nil, errUnauthenticated(errors.New("no bearer token"))
	}
	raw = strings.TrimSpace(raw)
	now := a.clock.Now()
	slot := &a.recent[maphash.String(a.recentSeed, raw)%recentTokens]
	if r := slot.Load(); r != nil && r.raw == raw && a.valid(r.v, now) {
		return &r.v.principal, nil
	}
	if v, ok := a.verified.Get(raw); ok {
		if a.valid(v, now) {
			slot.Store(&recentToken{raw: raw, v: v})
			return &v.principal, nil
		}
		a.verified.Remove(raw) // expired: verify again, which reports why
	}
	var claims tokenClaims
	if _, err := a.parser.ParseWithClaims(raw, &claims, a.key); err != nil {
		return nil, errUnauthenticated(err)
	}
	p, err := a.principalOf(&claims, now)
	if err != nil {
		return nil, err
	}
	var notBefore time.Time
	if claims.NotBefore != nil {
		notBefore = claims.NotBefore.Time
	}
	v := &verifiedToken{principal: p, from: notBefore.Add(-a.leeway), until: claims.ExpiresAt.Add(a.leeway)}
	a.verified.Add(raw, v)
	slot.Store(&recentToken{raw: raw, v: v})
	return &v.principal, nil
}

// valid reports whether a verified token is within its validity window
// (with the leeway) at now.
func (a *Authenticator) valid(v *verifiedToken, now time.Time) bool {
	return now.Before(v.until) && !now.Before(v.from)
}

// principalOf checks a verified token's claims and returns its caller.
func (a *Authenticator) principalOf(claims *tokenClaims, now time.Time) (Principal, error) {
	start := now
	if claims.IssuedAt != nil {
		start = claims.IssuedAt.Time
	}
	if ttl := claims.ExpiresAt.Sub(start); ttl > a.maxTTL+a.leeway {
		return Principal{}, errUnauthenticated(fmt.Errorf("token lives %s, longer than FOCAL_JWT_MAX_TTL (%s)", ttl.Round(time.Second), a.maxTTL))
	}
	if claims.TenantID == "" {
		return Principal{}, errUnauthenticated(errors.New("token has no tenant_id claim"))
	}
	if _, err := uuid.Parse(claims.TenantID); err != nil || len(claims.TenantID) != 36 {
		return Principal{}, errUnauthenticated(errors.New("tenant_id claim is not a UUID"))
	}
	tier := claims.Tier
	switch tier {
	case "":
		tier = TierFree
	case TierFree, TierPro, TierEnterprise:
	default:
		return Principal{}, errUnauthenticated(fmt.Errorf("unknown tier %q", tier))
	}
	p := Principal{TenantID: strings.ToLower(claims.TenantID), Subject: claims.Subject, Roles: claims.Roles, Tier: tier}
	p.rateKey = "tenant:" + p.TenantID
	return p, nil
}

// key picks the verification key by the token's algorithm family, so a
// token can never be checked with a key of another kind (HS/RS confusion).
func (a *Authenticator) key(t *jwt.Token) (any, error) {
	switch t.Method.(type) {
	case *jwt.SigningMethodHMAC:
		if a.secret != nil {
			return a.secret, nil
		}
	case *jwt.SigningMethodRSA:
		if a.rsaKey != nil {
			return a.rsaKey, nil
		}
	case *jwt.SigningMethodECDSA:
		if a.ecKey != nil {
			return a.ecKey, nil
		}
	}
	return nil, fmt.Errorf("no key for algorithm %s", t.Method.Alg())
}

// TokenRequest describes a development token.
type TokenRequest struct {
	TenantID string
	Subject  string
	Roles    []string
	Tier     string
	TTL      time.Duration
	Issuer   string
	Audience string
}

// SignToken issues an HS256 token with secret, for development and tests.
func SignToken(secret string, r TokenRequest, now time.Time) (string, error) {
	claims := tokenClaims{
		TenantID: r.TenantID,
		Roles:    r.Roles,
		Tier:     r.Tier,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   r.Subject,
			Issuer:    r.Issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(r.TTL)),
		},
	}
	if r.Audience != "" {
		claims.Audience = jwt.ClaimStrings{r.Audience}
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
}
