// Test fixtures shared by the PsEPR test targets.

/// The Stork client's messages (spec §4.2–§4.5), as it sent them.
public enum Stork {
    public static let header = """
        <?xml version="1.0" encoding="UTF-8" ?>
        <stream:stream to="planetlab1.rutgers.edu"
        xmlns="jabber:client"
        xmlns:stream="http://etherx.jabber.org/streams">
        """
    public static let authGet = """
        <iq xmlns="jabber:client" type='get' id='logon_1'>
           <query xmlns="jabber:iq:auth"><username>arizona_stork2</username></query></iq>
        """
    public static let authSet = """
        <iq xmlns="jabber:client" type='set' id='logon_2'>
           <query xmlns="jabber:iq:auth"><username>arizona_stork2</username>
             <password>PLAINTEXT</password><resource>Home</resource></query></iq>
        """
    public static let lease = """
        <message to='psepr_registry@jabber.services.planet-lab.org' id='subscribe_4711'>
          <x seconds='60' xmlns='jabber:x:expire'/>
          <event xmlns='http://psepr.org/xs/event'>
            <to>
              <channel>/edu/arizona/stork2/psepr/</channel>
              <service>psepr_router</service>
              <instance></instance>
            </to>
            <from>
              <service>arizona_stork2</service>
              <instance>planetlab3.cs.arizona.edu/list/nodes/</instance>
            </from>
            <payload xmlns='http://psepr.org/xs/payload/lease'>
              <duration>1800</duration>
              <identifier>arizona_stork2-8812</identifier>
              <op>register</op>
            </payload>
          </event>
        </message>
        """
    public static let event = """
        <message to='psepr_registry@jabber.services.planet-lab.org' id='id_4711'>
            <x seconds="60" xmlns="jabber:x:expire"/>
            <event xmlns="http://psepr.org/xs/event">
              <to>
                  <channel>/edu/arizona/stork2/psepr/</channel>
                  <service>arizona5</service>
                  <instance>node7.example.edu</instance>
              </to>
              <from>
                  <service>arizona_stork2</service>
                  <instance>planetlab3.cs.arizona.edu/list/nodes/</instance>
              </from>
              <payload xmlns="http://psepr.org/xs/payload/attribute">
                  <field>resolv.conf</field>
                  <value>nameserver 10.0.0.1</value>
                  <expire>90</expire>
              </payload>
          </event>
        </message>
        """
    public static let session = header + authGet + authSet + lease + event + "</stream:stream>"

    /// The payload of ``eventBelowLease``, as sent.
    public static let payload = """
        <payload xmlns="http://psepr.org/xs/payload/attribute">
                  <field>resolv.conf</field>
                  <value>nameserver 10.0.0.1</value>
                  <expire>90</expire>
              </payload>
        """

    /// ``event`` sent to a channel below the one ``lease`` takes, and to any service.
    public static let eventBelowLease = """
        <message to='psepr_registry@jabber.services.planet-lab.org' id='id_4711'>
            <x seconds="60" xmlns="jabber:x:expire"/>
            <event xmlns="http://psepr.org/xs/event">
              <to><channel>/edu/arizona/stork2/psepr/nodes/</channel></to>
              <from>
                  <service>arizona_stork2</service>
                  <instance>planetlab3.cs.arizona.edu/list/nodes/</instance>
              </from>
              \(payload)
          </event>
        </message>
        """
}
