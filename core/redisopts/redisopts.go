// Package redisopts turns the ways a configuration names a Redis server (a host and port, or a redis:// URL,
// with a password given apart or in the URL) into go-redis options, keeping credentials out of every error.
// The router's shared state and the response cache both connect this way.
package redisopts

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard/gateway/sdk"
)

// Options returns go-redis options for a URL (redis:// or rediss://, which wins when set) or an address.
// Username and password given apart fill in only what the URL leaves out, so that redis_url and
// redis_password can be configured separately. what names the user in errors ("router state").
func Options(what, rawURL, addr, username, password string, db int) (*redis.Options, error) {
	if rawURL == "" {
		if addr == "" {
			return nil, fmt.Errorf("%s: no Redis address (set a host or a redis:// URL)", what)
		}
		return &redis.Options{Addr: addr, Username: username, Password: password, DB: db}, nil
	}
	scheme, _, _ := strings.Cut(rawURL, "://")
	if scheme != "redis" && scheme != "rediss" {
		return nil, fmt.Errorf("%s: the Redis URL must start with redis:// or rediss://", what)
	}
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		// url.Error quotes the URL, credentials included; its inner error does not.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		secrets := []string{password}
		if u, perr := url.Parse(rawURL); perr == nil && u.User != nil {
			pw, _ := u.User.Password()
			secrets = append(secrets, pw, u.User.Username())
		}
		return nil, fmt.Errorf("%s: invalid Redis URL: %s", what, sdk.Redact(err.Error(), secrets...))
	}
	if opts.Username == "" {
		opts.Username = username
	}
	if opts.Password == "" {
		opts.Password = password
	}
	return opts, nil
}
