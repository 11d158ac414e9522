// A real, single-node OpenSearch for the suite (tests/support/opensearch_node.py), started
// from Maven Central's jars without a distribution: Node's own constructor, with the netty4
// transport (a module in the distribution) given as a classpath plugin.
// Usage: java -cp ... EmbeddedOpenSearch HOME HTTP_PORT TRANSPORT_PORT
import java.util.List;
import java.util.Map;
import org.opensearch.common.settings.Settings;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.transport.Netty4Plugin;

public class EmbeddedOpenSearch extends Node {
    EmbeddedOpenSearch(Settings settings) {
        super(InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), null,
                () -> "qakit-test"), List.of(Netty4Plugin.class), true);
    }

    public static void main(String[] args) throws Exception {
        Settings settings = Settings.builder()
            .put("path.home", args[0]).put("path.data", args[0] + "/data")
            .put("network.host", "127.0.0.1").put("http.port", args[1])
            .put("transport.port", args[2]).put("discovery.type", "single-node")
            .put("cluster.name", "qakit-test").put("node.name", "qakit-test")
            .put("http.type", "netty4").put("transport.type", "netty4")
            .build();
        Node node = new EmbeddedOpenSearch(settings);
        node.start();
        System.out.println("OPENSEARCH STARTED");  // opensearch_node.py waits for this line
        Thread.currentThread().join();
    }
}
