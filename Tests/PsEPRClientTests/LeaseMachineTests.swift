import Testing

@testable import PsEPRClient

@Suite struct LeaseMachineTests {
    var timing: LeaseTiming {
        var timing = LeaseTiming()
        timing.maximumRetries = 2
        timing.answerTimeout = .seconds(20)
        timing.renewFraction = 0.8
        return timing
    }

    @Test func aGrantIsRenewedAtTheConfiguredShareOfItsLength() {
        var machine = LeaseMachine(timing: timing)
        #expect(machine.start(now: .zero) == [.sendRegister])
        #expect(machine.state == .pending)
        machine.granted(seconds: 100, now: .seconds(1))
        #expect(machine.state == .active(grantedSeconds: 100))
        #expect(machine.tick(now: .seconds(80)).isEmpty)
        #expect(machine.tick(now: .seconds(81)) == [.sendRegister])
        #expect(machine.state == .renewing)
        #expect(machine.state.isActive)
        machine.granted(seconds: 100, now: .seconds(82))
        #expect(machine.state == .active(grantedSeconds: 100))
    }

    @Test func anUnansweredRenewalEndsLostAfterItsRetries() {
        var machine = LeaseMachine(timing: timing)
        _ = machine.start(now: .zero)
        machine.granted(seconds: 100, now: .zero)
        #expect(machine.tick(now: .seconds(80)) == [.sendRegister])  // renewal
        #expect(machine.tick(now: .seconds(100)) == [.sendRegister])  // retry 1
        #expect(machine.tick(now: .seconds(120)) == [.sendRegister])  // retry 2
        #expect(machine.state == .renewing)
        #expect(machine.tick(now: .seconds(140)) == [.sendUnregister])
        #expect(machine.state == .lost(reason: "no grant after 2 retries"))
        #expect(machine.tick(now: .seconds(1000)).isEmpty)
        machine.granted(seconds: 100, now: .seconds(1001))
        #expect(!machine.state.isActive)  // lost is final
    }

    @Test func anUnansweredRequestEndsLostToo() {
        var machine = LeaseMachine(timing: timing)
        _ = machine.start(now: .zero)
        _ = machine.tick(now: .seconds(20))
        _ = machine.tick(now: .seconds(40))
        #expect(machine.tick(now: .seconds(60)) == [.sendUnregister])
        #expect(!machine.state.isActive && machine.state.isFinal)
    }

    @Test func aReconnectionAsksAgainWithFullRetries() {
        var machine = LeaseMachine(timing: timing)
        _ = machine.start(now: .zero)
        machine.granted(seconds: 100, now: .zero)
        _ = machine.tick(now: .seconds(80))
        _ = machine.tick(now: .seconds(100))
        #expect(machine.reconnected(now: .seconds(101)) == [.sendRegister])
        #expect(machine.state == .renewing)
        _ = machine.tick(now: .seconds(121))
        _ = machine.tick(now: .seconds(141))
        #expect(machine.state == .renewing)  // two retries left again after the reconnection
        machine.granted(seconds: 50, now: .seconds(150))
        #expect(machine.state == .active(grantedSeconds: 50))
    }

    @Test func releaseAndRefusalAreFinal() {
        var released = LeaseMachine(timing: timing)
        _ = released.start(now: .zero)
        #expect(released.release() == [.sendUnregister])
        #expect(released.state == .released)
        #expect(released.release().isEmpty)
        #expect(released.reconnected(now: .seconds(1)).isEmpty)

        var refused = LeaseMachine(timing: timing)
        _ = refused.start(now: .zero)
        refused.refused(reason: "too many")
        #expect(refused.state == .lost(reason: "refused by the server: too many"))
        #expect(refused.tick(now: .seconds(100)).isEmpty)
    }
}
