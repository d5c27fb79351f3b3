// Everything is inline in include/cxmlscan.h; SwiftPM wants a source file in every C target.
#include "cxmlscan.h"
