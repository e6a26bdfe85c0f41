package db

// PageLimit is a list's page size: limit when it is 1 to 100, else 20.
func PageLimit(limit int) int {
	if limit <= 0 || limit > 100 {
		return 20
	}
	return limit
}

// Page cuts rows, read with one more than limit, to the page, and gives
// the cursor of the next page (the key of the page's last row), or "" when
// this is the last.
func Page[T any](rows []T, limit int, key func(*T) string) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, key(&rows[limit-1])
}
