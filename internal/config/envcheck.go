package config

import (
	"fmt"
	"slices"
	"strings"
)

// configEnv names the configuration file; it is the variable of --config.
const configEnv = EnvPrefix + "CONFIG"

// unknownVariables returns a warning for each SWITCHBOARD_* variable of
// environ (KEY=VALUE lines) that is no setting, naming the closest known
// variable when one is an obvious match.
//
// These are warnings and not errors, unlike an unknown key of the
// configuration file: the environment is shared with everything else the
// process runs among, and not all of it is the operator's to choose. A
// Kubernetes Service named "switchboard", for one, puts
// SWITCHBOARD_SERVICE_HOST, SWITCHBOARD_PORT and the like into every pod of
// its namespace; refusing to start there would be worse than the typo this
// check is for, which a warning at every start makes plain enough.
func unknownVariables(environ []string) []string {
	known := []string{configEnv}
	for _, s := range settings() {
		known = append(known, s.envName())
	}
	var warnings []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || slices.Contains(known, name) {
			continue
		}
		msg := fmt.Sprintf("environment variable %s is not a setting and is ignored", name)
		if guess := closestVariable(name, known); guess != "" {
			msg += fmt.Sprintf("; did you mean %s?", guess)
		} else {
			msg += fmt.Sprintf(" (each flag --NAME of \"switchboard serve -h\" is read from %sNAME, upper case with underscores for dashes)", EnvPrefix)
		}
		warnings = append(warnings, msg)
	}
	slices.Sort(warnings)
	return warnings
}

// closestVariable returns the known variable an unknown one most likely
// meant, or "" when none is close: first one a typo or two away (a plural
// for a singular, a letter swapped), else the longest known one the
// unknown one ends with, which is what a file key with its section put
// in front gives (SWITCHBOARD_SERVER_REGION for SWITCHBOARD_REGION).
func closestVariable(name string, known []string) string {
	suffix := strings.TrimPrefix(name, EnvPrefix)
	best, bestDistance := "", 3 // at most two edits away
	for _, k := range known {
		if d := editDistance(suffix, strings.TrimPrefix(k, EnvPrefix)); d < bestDistance {
			best, bestDistance = k, d
		}
	}
	if best != "" {
		return best
	}
	for _, k := range known {
		if strings.HasSuffix(suffix, "_"+strings.TrimPrefix(k, EnvPrefix)) && len(k) > len(best) {
			best = k
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b: how many letters
// must be inserted, deleted or replaced to turn one into the other.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
