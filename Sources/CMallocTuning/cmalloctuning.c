// Only the header is used; SwiftPM wants a source file in every C target.
#include "cmalloctuning.h"
