package db

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"reflect"
)

// JSON stores a value as JSON text, the same on every engine (a TEXT
// column, so LIKE works on it too). A nil list is stored as [].
type JSON[T any] struct{ V T }

// Value implements driver.Valuer.
func (j JSON[T]) Value() (driver.Value, error) {
	if v := reflect.ValueOf(j.V); v.Kind() == reflect.Slice && v.IsNil() {
		return "[]", nil
	}
	b, err := json.Marshal(j.V)
	return string(b), err
}

// Scan implements sql.Scanner; NULL is the zero value.
func (j *JSON[T]) Scan(src any) error {
	switch v := src.(type) {
	case string:
		return json.Unmarshal([]byte(v), &j.V)
	case []byte:
		return json.Unmarshal(v, &j.V)
	case nil:
		var zero T
		j.V = zero
		return nil
	}
	return fmt.Errorf("db: cannot scan %T as JSON", src)
}
