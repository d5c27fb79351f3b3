import Foundation
import Logging
import PsEPRCore
import ServerOperations
import ServiceLifecycle

/// The implementation's version, in heartbeats and discovery.
public let pseprServerVersion = "psepr-swift 1.0"
