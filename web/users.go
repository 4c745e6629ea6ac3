package web

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Roles a user or API key may hold. The five human roles are clearance's; RoleSystem is for
// machine clients (electronic-port / single-window systems) that ask for decisions and post
// results.
const (
	RoleOfficer     = "officer"      // 现场查验关员: own tasks, record results
	RoleSupervisor  = "supervisor"   // 科长: all tasks of the port, results, reassignment
	RoleRiskAnalyst = "risk_analyst" // 风险分析: rules, trails, trends
	RoleHQAnalyst   = "hq_analyst"   // 总署分析: trends, trails
	RoleAdmin       = "admin"        // 系统管理员
	RoleSystem      = "system"       // machine client: decisions
	RoleLab         = "lab"          // laboratory system reporting sample results
)

// allRoles is the set Users accepts; a typo in a role must fail at start, not at request time.
var allRoles = []string{RoleOfficer, RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst, RoleAdmin, RoleSystem, RoleLab}

// User is an authenticated identity: a console account or an API key.
type User struct {
	Name    string   `json:"name"`         // login name or API key name; recorded as the actor
	Display string   `json:"display_name"` // shown in the console, e.g. "张伟"
	Roles   []string `json:"roles"`
	// Port is the port (customs office code) the user works at; empty means every port.
	Port string `json:"port,omitempty"`
}

// Has reports whether the user holds role r.
func (u User) Has(r string) bool { return slices.Contains(u.Roles, r) }

type account struct {
	user User
	hash []byte // bcrypt
}

// Users is the in-memory registry of console accounts (bcrypt-hashed passwords) and API keys
// (stored as SHA-256 digests, so a memory dump does not reveal them). It is safe for concurrent
// use.
type Users struct {
	mu       sync.RWMutex
	accounts map[string]*account
	keys     map[[sha256.Size]byte]User
	cost     int
	dev      bool // seeded by DevUsers: New refuses it outside dev mode
}

// NewUsers returns an empty registry.
func NewUsers() *Users {
	return &Users{accounts: map[string]*account{}, keys: map[[sha256.Size]byte]User{}, cost: bcrypt.DefaultCost}
}

func checkUser(u User) error {
	if u.Name == "" {
		return errors.New("web: user name is empty")
	}
	if len(u.Roles) == 0 {
		return fmt.Errorf("web: user %q has no role", u.Name)
	}
	for _, r := range u.Roles {
		if !slices.Contains(allRoles, r) {
			return fmt.Errorf("web: user %q: unknown role %q", u.Name, r)
		}
	}
	return nil
}

// AddUser adds a console account. The password is kept only as a bcrypt hash.
func (us *Users) AddUser(u User, password string) error {
	if err := checkUser(u); err != nil {
		return err
	}
	if len(password) < 8 {
		return fmt.Errorf("web: user %q: password shorter than 8 characters", u.Name)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), us.cost)
	if err != nil {
		return fmt.Errorf("web: hash password of %q: %w", u.Name, err)
	}
	u.Roles = slices.Clone(u.Roles)
	us.mu.Lock()
	defer us.mu.Unlock()
	if _, dup := us.accounts[u.Name]; dup {
		return fmt.Errorf("web: user %q already exists", u.Name)
	}
	us.accounts[u.Name] = &account{user: u, hash: h}
	return nil
}

// AddAPIKey registers key for a machine client named u.Name with u's roles and port. Keys
// should be long random strings (32 bytes or more of entropy); at least 24 characters are
// required.
func (us *Users) AddAPIKey(u User, key string) error {
	if err := checkUser(u); err != nil {
		return err
	}
	if len(key) < 24 {
		return fmt.Errorf("web: API key of %q shorter than 24 characters", u.Name)
	}
	u.Roles = slices.Clone(u.Roles)
	d := sha256.Sum256([]byte(key))
	us.mu.Lock()
	defer us.mu.Unlock()
	if _, dup := us.keys[d]; dup {
		return fmt.Errorf("web: API key of %q already registered", u.Name)
	}
	us.keys[d] = u
	return nil
}

// dummyHash is compared against when the user name is unknown, so that a wrong name and a wrong
// password take the same time and names cannot be probed.
// It is made on first use, not at program start.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("portguard-no-such-user"), bcrypt.DefaultCost)
	return h
})

// Authenticate checks a user name and password and returns the user, ok=false if either is
// wrong.
func (us *Users) Authenticate(name, password string) (User, bool) {
	us.mu.RLock()
	a := us.accounts[name]
	us.mu.RUnlock()
	if a == nil {
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return User{}, false
	}
	if bcrypt.CompareHashAndPassword(a.hash, []byte(password)) != nil {
		return User{}, false
	}
	return a.user, true
}

// APIKey returns the machine client a key belongs to, ok=false if it is unknown. The lookup is
// by SHA-256 digest: whatever timing a map lookup leaks is about digests, which does not help
// anyone guess a key.
func (us *Users) APIKey(key string) (User, bool) {
	d := sha256.Sum256([]byte(key))
	us.mu.RLock()
	u, ok := us.keys[d]
	us.mu.RUnlock()
	return u, ok
}

// Credential is one seeded demo login or API key, for cmd to print at start in dev mode.
type Credential struct {
	Kind     string // "login" or "api_key"
	Name     string // user name, or the API key's client name
	Display  string
	Secret   string // password or API key
	Roles    []string
	Port     string
	Describe string // what the account is for, in Chinese and English
}

// DevUsers seeds the demo accounts — officer1 to officer3 (the IDs of clearance.DemoOfficers,
// so that assignment draws them), supervisor, analyst, hq and admin — and a demo API key for
// the simulated electronic port. No demo account is bound to a port: the simulated traffic
// spans several. Their passwords are well known, so New accepts the result only when
// Config.DevMode is set.
func DevUsers() (*Users, []Credential) {
	us := NewUsers()
	us.dev = true
	// The lowest bcrypt cost: demo passwords are public anyway, and five hashes at start
	// should not cost a second.
	us.cost = bcrypt.MinCost
	creds := []Credential{
		{Kind: "login", Name: "officer1", Display: "张伟", Secret: "officer1-demo", Roles: []string{RoleOfficer}, Describe: "现场查验关员 / port officer"},
		{Kind: "login", Name: "officer2", Display: "李娜", Secret: "officer2-demo", Roles: []string{RoleOfficer}, Describe: "现场查验关员 / port officer"},
		{Kind: "login", Name: "officer3", Display: "王芳", Secret: "officer3-demo", Roles: []string{RoleOfficer}, Describe: "现场查验关员 / port officer"},
		{Kind: "login", Name: "supervisor", Display: "赵敏", Secret: "supervisor-demo", Roles: []string{RoleSupervisor}, Describe: "查验科长 / supervisor"},
		{Kind: "login", Name: "analyst", Display: "刘洋", Secret: "analyst-demo", Roles: []string{RoleRiskAnalyst}, Describe: "风险分析员 / risk analyst"},
		{Kind: "login", Name: "hq", Display: "陈静", Secret: "hq-demo-pass", Roles: []string{RoleHQAnalyst}, Describe: "总署分析员 / HQ analyst"},
		{Kind: "login", Name: "admin", Display: "系统管理员", Secret: "admin-demo", Roles: []string{RoleAdmin}, Describe: "系统管理员 / administrator"},
		{Kind: "api_key", Name: "electronic-port", Display: "电子口岸（模拟）", Secret: "pgdemo-electronic-port-0123456789",
			Roles: []string{RoleSystem, RoleSupervisor, RoleHQAnalyst}, Describe: "电子口岸/单一窗口：布控、结果、统计 / electronic port: decisions, results, trends"},
		{Kind: "api_key", Name: "lab", Display: "检测实验室（模拟）", Secret: "pgdemo-laboratory-0123456789",
			Roles: []string{RoleLab}, Describe: "检测实验室 / laboratory"},
	}
	for _, c := range creds {
		u := User{Name: c.Name, Display: c.Display, Roles: c.Roles, Port: c.Port}
		var err error
		if c.Kind == "login" {
			err = us.AddUser(u, c.Secret)
		} else {
			err = us.AddAPIKey(u, c.Secret)
		}
		if err != nil {
			panic(err) // the table above is wrong: a programming error
		}
	}
	return us, creds
}
