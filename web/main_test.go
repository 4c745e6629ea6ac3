package web

import (
	"testing"

	"github.com/portguard/portguard/analytics/chtest"
)

// TestMain shares one throwaway ClickHouse among the package's tests.
func TestMain(m *testing.M) { chtest.Main(m) }
