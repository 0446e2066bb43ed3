package store

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Opt is one field of a partial update: when Set is false the column is
// left unchanged. For nullable columns T is a pointer and a nil V clears it.
type Opt[T any] struct {
	Set bool
	V   T
}

// Some returns an Opt that sets the column to v.
func Some[T any](v T) Opt[T] { return Opt[T]{Set: true, V: v} }

// HashKey returns the stored form of a virtual key: the hex SHA-256 of the
// full key. Keys are never stored in clear.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// MaskKey returns the displayable form of a key ("sk-...abcd") kept as key_name.
func MaskKey(key string) string {
	if len(key) <= 8 {
		return "sk-..."
	}
	return "sk-..." + key[len(key)-4:]
}

// Page selects a slice of a list. Page counts from 1; PageSize defaults to 50
// and is capped at 1000.
type Page struct {
	Page     int
	PageSize int
}

func (p Page) limitOffset() (int, int) {
	size := p.PageSize
	if size <= 0 {
		size = 50
	}
	if size > 1000 {
		size = 1000
	}
	page := p.Page
	if page < 1 {
		page = 1
	}
	return size, (page - 1) * size
}

// Key is a virtual API key (LiteLLM's verification token).
type Key struct {
	Token               string // SHA-256 hex of the key
	KeyAlias            string
	KeyName             string // masked key, e.g. "sk-...abcd"
	TeamID              string
	UserID              string
	Models              []string
	MaxBudget           *float64
	SoftBudget          *float64
	Spend               float64
	BudgetDuration      string
	BudgetResetAt       *time.Time
	Expires             *time.Time
	TPMLimit            *int64
	RPMLimit            *int64
	MaxParallelRequests *int64
	ModelMaxBudget      map[string]float64
	ModelRPMLimit       map[string]int64
	ModelTPMLimit       map[string]int64
	Aliases             map[string]string
	Metadata            map[string]any
	Blocked             bool
	// AllowedCacheControls limits the per-request cache controls the key's requests may use (empty: all).
	AllowedCacheControls []string
	CreatedAt            time.Time
	UpdatedAt            time.Time
}

// KeyUpdate is a partial update of a key; unset fields are unchanged.
// Setting BudgetDuration without BudgetResetAt schedules the next reset from now.
type KeyUpdate struct {
	KeyAlias             Opt[string]
	TeamID               Opt[string]
	UserID               Opt[string]
	Models               Opt[[]string]
	MaxBudget            Opt[*float64]
	SoftBudget           Opt[*float64]
	Spend                Opt[float64]
	BudgetDuration       Opt[string]
	BudgetResetAt        Opt[*time.Time]
	Expires              Opt[*time.Time]
	TPMLimit             Opt[*int64]
	RPMLimit             Opt[*int64]
	MaxParallelRequests  Opt[*int64]
	ModelMaxBudget       Opt[map[string]float64]
	ModelRPMLimit        Opt[map[string]int64]
	ModelTPMLimit        Opt[map[string]int64]
	Aliases              Opt[map[string]string]
	Metadata             Opt[map[string]any]
	Blocked              Opt[bool]
	AllowedCacheControls Opt[[]string]
}

// KeyFilter selects keys for ListKeys.
type KeyFilter struct {
	TeamID string
	UserID string
	Page
}

// Team is a group of users and keys sharing models, limits and a budget.
type Team struct {
	TeamID              string
	TeamAlias           string
	Models              []string
	MaxBudget           *float64
	Spend               float64
	BudgetDuration      string
	BudgetResetAt       *time.Time
	TPMLimit            *int64
	RPMLimit            *int64
	MaxParallelRequests *int64
	Blocked             bool
	Metadata            map[string]any
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// TeamUpdate is a partial update of a team; unset fields are unchanged.
type TeamUpdate struct {
	TeamAlias           Opt[string]
	Models              Opt[[]string]
	MaxBudget           Opt[*float64]
	Spend               Opt[float64]
	BudgetDuration      Opt[string]
	BudgetResetAt       Opt[*time.Time]
	TPMLimit            Opt[*int64]
	RPMLimit            Opt[*int64]
	MaxParallelRequests Opt[*int64]
	Blocked             Opt[bool]
	Metadata            Opt[map[string]any]
}

// User is an internal user (LiteLLM's user table).
type User struct {
	UserID              string
	UserEmail           string
	UserRole            string
	Teams               []string
	Models              []string
	MaxBudget           *float64
	Spend               float64
	BudgetDuration      string
	BudgetResetAt       *time.Time
	TPMLimit            *int64
	RPMLimit            *int64
	MaxParallelRequests *int64
	Metadata            map[string]any
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// UserUpdate is a partial update of a user; unset fields are unchanged.
type UserUpdate struct {
	UserEmail           Opt[string]
	UserRole            Opt[string]
	Teams               Opt[[]string]
	Models              Opt[[]string]
	MaxBudget           Opt[*float64]
	Spend               Opt[float64]
	BudgetDuration      Opt[string]
	BudgetResetAt       Opt[*time.Time]
	TPMLimit            Opt[*int64]
	RPMLimit            Opt[*int64]
	MaxParallelRequests Opt[*int64]
	Metadata            Opt[map[string]any]
}

// Customer is an end user of a client application (the OpenAI "user"
// field), LiteLLM's end-user table.
type Customer struct {
	UserID         string
	Alias          string
	Blocked        bool
	MaxBudget      *float64
	Spend          float64
	BudgetID       string
	BudgetDuration string
	BudgetResetAt  *time.Time
	TPMLimit       *int64
	RPMLimit       *int64
	Metadata       map[string]any
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// CustomerUpdate is a partial update of a customer; unset fields are unchanged.
type CustomerUpdate struct {
	Alias          Opt[string]
	Blocked        Opt[bool]
	MaxBudget      Opt[*float64]
	Spend          Opt[float64]
	BudgetID       Opt[string]
	BudgetDuration Opt[string]
	BudgetResetAt  Opt[*time.Time]
	TPMLimit       Opt[*int64]
	RPMLimit       Opt[*int64]
	Metadata       Opt[map[string]any]
}

// Budget is a reusable budget definition (LiteLLM's budget table) that
// customers refer to by BudgetID.
type Budget struct {
	BudgetID            string
	MaxBudget           *float64
	SoftBudget          *float64
	MaxParallelRequests *int64
	TPMLimit            *int64
	RPMLimit            *int64
	ModelMaxBudget      map[string]float64
	BudgetDuration      string
	BudgetResetAt       *time.Time
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// BudgetUpdate is a partial update of a budget; unset fields are unchanged.
type BudgetUpdate struct {
	MaxBudget           Opt[*float64]
	SoftBudget          Opt[*float64]
	MaxParallelRequests Opt[*int64]
	TPMLimit            Opt[*int64]
	RPMLimit            Opt[*int64]
	ModelMaxBudget      Opt[map[string]float64]
	BudgetDuration      Opt[string]
	BudgetResetAt       Opt[*time.Time]
}

// SpendLog is one row of the spend ledger: one request.
type SpendLog struct {
	RequestID        string
	APIKey           string // hashed key (Key.Token)
	KeyAlias         string
	TeamID           string
	UserID           string
	EndUser          string // customer id
	ModelGroup       string // the model name the client asked for
	Model            string // the deployment's upstream model
	DeploymentID     string
	Provider         string
	CallType         string
	PromptTokens     int64
	CompletionTokens int64
	TotalTokens      int64
	CachedTokens     int64
	Spend            float64
	StartTime        time.Time
	EndTime          time.Time
	LatencyMS        int64
	Status           string
	CacheHit         bool
	Metadata         map[string]any
	RequestTags      []string
}

// SpendFilter selects ledger rows. Zero values do not filter. Start is
// inclusive and End exclusive, on start_time. Model matches either the model
// group or the deployment model.
type SpendFilter struct {
	Start  time.Time
	End    time.Time
	APIKey string
	UserID string
	TeamID string
	Model  string
	// Limit caps the rows (or groups) returned; 0 means 1000 for SpendLogs
	// and no limit for aggregates.
	Limit int
}

// SpendGroup is one group of an aggregate.
type SpendGroup struct {
	Name             string // api key hash, team id or model group ("" for none)
	Spend            float64
	Requests         int64
	PromptTokens     int64
	CompletionTokens int64
	TotalTokens      int64
}

// ReportGroup selects the second dimension of SpendReport.
type ReportGroup string

// Report groupings.
const (
	ByTeam ReportGroup = "team"
	ByKey  ReportGroup = "key"
)

// ReportRow is one (day, group) cell of SpendReport.
type ReportRow struct {
	Day string // UTC day, YYYY-MM-DD
	SpendGroup
}

// ResetResult counts the rows whose spend ResetBudgets reset.
type ResetResult struct {
	Keys, Teams, Users, Customers, Budgets int64
}
