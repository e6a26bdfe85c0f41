package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// SecretKeyFile is the name of the generated key inside the data dir.
const SecretKeyFile = "secret.key"

// LoadOrCreateSecretKey fills SecretKey on an embedded install that was given
// none: it reads $DATA_DIR/secret.key, creating it (mode 0600) on first start.
// It reports whether it created the file so the caller can say so in the log.
// A cluster must be given its key explicitly; Load already enforces that.
func (c *Config) LoadOrCreateSecretKey() (created bool, err error) {
	if c.SecretKey != "" {
		return false, nil
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return false, fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(c.DataDir, SecretKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		key := strings.TrimSpace(string(b))
		if len(key) < 32 {
			return false, &Error{Source: path, Msg: "secret key file holds fewer than 32 characters"}
		}
		c.SecretKey = key
		return false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("read secret key: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return false, err
	}
	key := base64.RawURLEncoding.EncodeToString(raw)
	// O_EXCL: two processes racing on first start must not both write a key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return c.LoadOrCreateSecretKey()
	}
	if err != nil {
		return false, fmt.Errorf("create secret key: %w", err)
	}
	if _, err := f.WriteString(key + "\n"); err != nil {
		f.Close()
		return false, fmt.Errorf("write secret key: %w", err)
	}
	if err := f.Close(); err != nil {
		return false, err
	}
	c.SecretKey = key
	return true, nil
}
