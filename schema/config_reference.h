// The configuration reference, docs/configuration.md, printed from the key tables the loaders
// check files against (core/config_schema.h), so that the document and the validation cannot
// drift (tests/schema/config_reference_test.cc fails when the checked-in file differs).
#pragma once

#include <string>
#include <vector>

#include "core/config_schema.h"

namespace autoscale {

// The command that regenerates docs/configuration.md, as the document and the drift test name it.
inline constexpr const char* kConfigReferenceCommand =
    "autoscale config-reference > docs/configuration.md";

// The whole reference as Markdown: every kind of configuration file, how `check-config` tells
// it apart, and one table per map (key, type, range, default, meaning). Deterministic.
std::string ConfigReferenceMarkdown();

// Every key table the reference prints, in its order.
std::vector<const KeyTable*> AllKeyTables();

}  // namespace autoscale
