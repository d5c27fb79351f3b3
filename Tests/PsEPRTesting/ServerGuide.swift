/// Texts from the PsEPR Server Guide.
public enum ServerGuide {
    /// The default `PsEPRServer.xml` as the guide gives it.
    public static let defaultConfiguration = """
        <PsEPRServer>
          <client><XMPP><maximumConnections>400</maximumConnections></XMPP></client>
          <peer><leasePeer>
              <configurationURL>http://psepr.org/PsEPRServer/config/LeasePeer.xml</configurationURL>
              <configurationCheckSeconds>300</configurationCheckSeconds>
              <leaseSeconds>600</leaseSeconds>
          </leasePeer></peer>
          <service><statusReporter>
              <periodSeconds>300</periodSeconds>
              <clientConnections><include>no</include></clientConnections>
              <peerConnections><include>no</include></peerConnections>
              <routeTable><include>no</include></routeTable>
              <service><include>yes</include></service>
          </statusReporter></service>
          <debug>
              <comment>0xB072=SERVICES,PEER,GLEANER,LEASE,BADERROR,STATUSREPORT,IO</comment>
              <comment>0xB062=SERVICES,PEER,GLEANER,LEASE,BADERROR,IO</comment>
              <filterLevel>0xB062</filterLevel>
          </debug>
        </PsEPRServer>
        """
}
