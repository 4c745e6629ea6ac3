package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/portguard/portguard/web"
)

// usersFile is the JSON a production deployment lists its console accounts and API keys in.
// Passwords and keys are read from the environment variables named here, never stored in the
// file itself.
type usersFile struct {
	Users []struct {
		web.User
		PasswordEnv string `json:"password_env"`
	} `json:"users"`
	APIKeys []struct {
		web.User
		KeyEnv string `json:"key_env"`
	} `json:"api_keys"`
}

func loadUsers(path string, env func(string) string) (*web.Users, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	var f usersFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("users file %s: %w", path, err)
	}
	us := web.NewUsers()
	for i, u := range f.Users {
		pw := env(u.PasswordEnv)
		if u.PasswordEnv == "" || pw == "" {
			return nil, fmt.Errorf("users file %s: user %d (%s): password_env must name a set environment variable", path, i, u.Name)
		}
		if err := us.AddUser(u.User, pw); err != nil {
			return nil, fmt.Errorf("users file %s: user %s: %w", path, u.Name, err)
		}
	}
	for i, k := range f.APIKeys {
		key := env(k.KeyEnv)
		if k.KeyEnv == "" || key == "" {
			return nil, fmt.Errorf("users file %s: api key %d (%s): key_env must name a set environment variable", path, i, k.Name)
		}
		if err := us.AddAPIKey(k.User, key); err != nil {
			return nil, fmt.Errorf("users file %s: api key %s: %w", path, k.Name, err)
		}
	}
	if len(f.Users)+len(f.APIKeys) == 0 {
		return nil, errors.New("users file " + path + " lists nobody")
	}
	return us, nil
}
