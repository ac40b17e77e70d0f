package bake

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseEntitlementsLocalOutputDelete(t *testing.T) {
	conf, err := ParseEntitlements([]string{string(EntitlementKeyBuildxLocalDelete)})
	require.NoError(t, err)
	require.True(t, conf.LocalOutputDelete)

	_, err = ParseEntitlements([]string{string(EntitlementKeyBuildxLocalDelete) + "=true"})
	require.ErrorContains(t, err, "buildx.local.delete does not accept a value")
}
